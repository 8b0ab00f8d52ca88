-- Schemas stg and etl were created without AUTHORIZATION (0001_schemas.sql, the bootstrap), so their
-- owner is whoever ran the first deploy. Owned by dbo like rpt: the views of rpt read etl.load_log and
-- stg through ownership chaining, and the procedure's chain to stg holds whoever deployed.
-- Transferring a schema to a new owner drops the permissions granted on it ("ALTER AUTHORIZATION"):
-- infra/sql/grant_identities.sql, run after every deploy, grants Data Factory's again.
ALTER AUTHORIZATION ON SCHEMA::stg TO dbo;

ALTER AUTHORIZATION ON SCHEMA::etl TO dbo;
