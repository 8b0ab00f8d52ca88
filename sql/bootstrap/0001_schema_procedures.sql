-- Run by every deploy: records the sha256 of each procedure file as last deployed, so a deploy can say
-- which procedures it created, which it altered and which were unchanged. Idempotent.
IF NOT EXISTS (
    SELECT 1
    FROM INFORMATION_SCHEMA.TABLES
    WHERE TABLE_SCHEMA = 'etl' AND TABLE_NAME = 'schema_procedures'
)
    CREATE TABLE etl.schema_procedures (
        file_name VARCHAR(200) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        deployed_at DATETIME2 NOT NULL,
        CONSTRAINT pk_schema_procedures PRIMARY KEY (file_name)
    );
