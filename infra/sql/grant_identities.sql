-- Database users for the managed identities, least privilege. Idempotent: safe to run on every deploy.
-- Run it in the warehouse database as the server's Microsoft Entra administrator, after
-- `company-activity sql deploy` has created the schemas and the procedure:
--   sqlcmd -S <server>.database.windows.net -d company_activity -G -b \
--     -v DataFactoryName="<data factory name>" DataFactoryClientId="<client id of its managed identity>" \
--     -i infra/sql/grant_identities.sql
--
-- The user is created WITH SID = <the identity's application (client) id as binary>, TYPE = E rather than
-- FROM EXTERNAL PROVIDER: no Microsoft Graph lookup, so neither the runner (a CI service principal) nor the
-- server's own identity needs Directory Readers. The CREATE USER page documents SID only for SQL-authentication
-- users; that it works for Entra principals rests on sys.database_principals (an Entra application's sid is its
-- client id) and public threads (MicrosoftDocs/sql-docs#2323): docs/azure-fidelity.md. A user whose SID is not
-- the current client id is dropped first: matching by name alone kept a recreated factory locked out.
--
-- Data Factory (system-assigned identity; its database user is named after the factory):
--   * stg: SELECT, INSERT, DELETE. The copy activities' pre-copy scripts delete the run date's rows
--     (a DELETE with a WHERE clause needs SELECT) and the copies insert them.
--   * EXECUTE on dbo.usp_merge_fact_daily_company_activity. The procedure and every table it touches
--     belong to dbo, so ownership chaining lets it read stg and write dbo and etl without the factory
--     holding any permission on them.
--   Nothing else: no db_datareader/db_datawriter, no DDL, no access to dbo or etl tables.
-- The Function App does not touch SQL: it writes bronze only and has no database user.
SET NOCOUNT ON;

-- sqlcmd pastes -v values into this text; deploy.sh admits only a factory name and a GUID, and this checks again
-- (a value with a quote would already have broken the statement above it, so this stops only odd characters).
IF N'$(DataFactoryName)' LIKE N'%[^A-Za-z0-9-]%' OR LEN(N'$(DataFactoryName)') NOT BETWEEN 3 AND 63
    THROW 50002, N'DataFactoryName must be a data factory name (letters, digits, hyphens).', 1;

IF SCHEMA_ID(N'stg') IS NULL OR OBJECT_ID(N'dbo.usp_merge_fact_daily_company_activity', N'P') IS NULL
    THROW 50001, N'Schema stg or procedure dbo.usp_merge_fact_daily_company_activity is missing: run company-activity sql deploy first.', 1;

-- The SID the factory's user must have: its identity's client id. A value that is not a GUID fails the
-- conversion, before anything is created or dropped.
DECLARE @sid NVARCHAR(40) = CONVERT(NVARCHAR(40), CONVERT(VARBINARY(16), CONVERT(UNIQUEIDENTIFIER, N'$(DataFactoryClientId)')), 1);

-- A user of the factory's name with another SID was made for an identity that no longer exists: the factory was
-- deleted and created again (same name, new identity, new client id). Grants on it would succeed while the
-- factory's logins fail, so it is dropped and made again below. It owns nothing (the grants are all it has).
IF EXISTS (SELECT 1 FROM sys.database_principals
           WHERE name = N'$(DataFactoryName)' AND sid <> CONVERT(VARBINARY(85), @sid, 1))
BEGIN
    PRINT N'dropping user $(DataFactoryName): its SID is not the client id of the current identity';
    DROP USER [$(DataFactoryName)];
END;

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(DataFactoryName)')
BEGIN
    DECLARE @create NVARCHAR(400) = N'CREATE USER ' + QUOTENAME(N'$(DataFactoryName)') + N' WITH SID = ' + @sid + N', TYPE = E;';
    EXEC (@create);
END;

GRANT SELECT, INSERT, DELETE ON SCHEMA::stg TO [$(DataFactoryName)];
GRANT EXECUTE ON OBJECT::dbo.usp_merge_fact_daily_company_activity TO [$(DataFactoryName)];

SELECT p.name AS principal, perm.permission_name, perm.class_desc,
       CASE perm.class
           WHEN 0 THEN DB_NAME()
           WHEN 1 THEN OBJECT_SCHEMA_NAME(perm.major_id) + N'.' + OBJECT_NAME(perm.major_id)
           WHEN 3 THEN SCHEMA_NAME(perm.major_id)
       END AS securable
FROM sys.database_permissions AS perm
JOIN sys.database_principals AS p ON p.principal_id = perm.grantee_principal_id
WHERE p.name = N'$(DataFactoryName)'
ORDER BY perm.class_desc, perm.permission_name;
