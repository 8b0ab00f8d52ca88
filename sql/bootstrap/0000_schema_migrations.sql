-- Run by every deploy before the migrations: creates the table that records which migration
-- files were applied (file name + sha256 of its text). Idempotent; GO separates the batches because
-- SQL Server compiles a whole batch before running it.
IF NOT EXISTS (SELECT 1 FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME = 'etl')
    EXEC (N'CREATE SCHEMA etl AUTHORIZATION dbo');
GO

IF NOT EXISTS (
    SELECT 1
    FROM INFORMATION_SCHEMA.TABLES
    WHERE TABLE_SCHEMA = 'etl' AND TABLE_NAME = 'schema_migrations'
)
    CREATE TABLE etl.schema_migrations (
        file_name VARCHAR(200) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        applied_at DATETIME2 NOT NULL,
        CONSTRAINT pk_schema_migrations PRIMARY KEY (file_name)
    );
