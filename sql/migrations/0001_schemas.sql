-- Schemas: stg (raw copies landed by Data Factory), dbo (dimensions and the fact), etl (created by
-- the bootstrap with etl.schema_migrations; holds the load log).
CREATE SCHEMA stg;
