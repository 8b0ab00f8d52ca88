-- The dashboard's database user: the Function App's user-assigned identity iddb<token>, member of rpt_reader and
-- of nothing else (rpt_reader has SELECT on schema rpt only: sql/migrations/0007_reporting_views.sql).
-- Idempotent: safe to run on every deploy. Run it in the warehouse database as the server's Microsoft Entra
-- administrator, after `company-activity sql deploy` (which creates the role):
--   sqlcmd -S <server>.database.windows.net -d company_activity -G -b \
--     -v DashboardReaderName="<identity name>" DashboardReaderClientId="<its client id>" \
--     -i infra/sql/grant_dashboard_reader.sql
-- As for the factory (grant_identities.sql), the user is created WITH SID = <client id as binary>, TYPE = E:
-- no Microsoft Graph lookup.
SET NOCOUNT ON;

IF DATABASE_PRINCIPAL_ID(N'rpt_reader') IS NULL
    THROW 50001, N'Role rpt_reader is missing: run company-activity sql deploy first.', 1;

IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(DashboardReaderName)')
BEGIN
    -- A value that is not a GUID fails the conversion, before anything is created.
    DECLARE @sid NVARCHAR(40) = CONVERT(NVARCHAR(40), CONVERT(VARBINARY(16), CONVERT(UNIQUEIDENTIFIER, N'$(DashboardReaderClientId)')), 1);
    DECLARE @create NVARCHAR(400) = N'CREATE USER ' + QUOTENAME(N'$(DashboardReaderName)') + N' WITH SID = ' + @sid + N', TYPE = E;';
    EXEC (@create);
END;

ALTER ROLE rpt_reader ADD MEMBER [$(DashboardReaderName)];

-- What the user holds, for the log: exactly one row, the rpt_reader membership, and no direct permission.
SELECT r.name AS role_name, m.name AS member_name
FROM sys.database_role_members AS rm
JOIN sys.database_principals AS r ON r.principal_id = rm.role_principal_id
JOIN sys.database_principals AS m ON m.principal_id = rm.member_principal_id
WHERE m.name = N'$(DashboardReaderName)';
SELECT perm.permission_name, perm.class_desc
FROM sys.database_permissions AS perm
JOIN sys.database_principals AS p ON p.principal_id = perm.grantee_principal_id
WHERE p.name = N'$(DashboardReaderName)' AND perm.permission_name <> N'CONNECT';
