-- Database users for the managed identities, least privilege. Idempotent: safe to run on every deploy.
-- Run it in the warehouse database as the server's Microsoft Entra administrator, after
-- `company-activity sql deploy` has created the schemas and the procedure:
--   sqlcmd -S <server>.database.windows.net -d company_activity -G -b \
--     -v DataFactoryName="<data factory name>" -i infra/sql/grant_identities.sql
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

IF SCHEMA_ID(N'stg') IS NULL OR OBJECT_ID(N'dbo.usp_merge_fact_daily_company_activity', N'P') IS NULL
    THROW 50001, N'Schema stg or procedure dbo.usp_merge_fact_daily_company_activity is missing: run company-activity sql deploy first.', 1;

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(DataFactoryName)')
    CREATE USER [$(DataFactoryName)] FROM EXTERNAL PROVIDER;

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
