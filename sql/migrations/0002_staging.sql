-- Staging: what the Data Factory copies land, one business date at a time (the pre-copy script
-- deletes that date first). No primary keys on purpose: a faulty copy can land duplicates, and the
-- procedure refuses them with an error naming the table and a company_id instead of merging them.
CREATE TABLE stg.product_usage_daily (
    usage_date DATE NOT NULL,
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    active_users INT NOT NULL,
    events INT NOT NULL,
    bronze_run_id VARCHAR(64) NULL
);

CREATE CLUSTERED INDEX cix_product_usage_daily_usage_date
ON stg.product_usage_daily (usage_date, company_id);

CREATE TABLE stg.crm_company (
    snapshot_date DATE NOT NULL,
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    company_name VARCHAR(200) NULL,
    industry_tag VARCHAR(100) NULL,
    country VARCHAR(100) NULL,
    last_contact_date DATE NULL
);

CREATE CLUSTERED INDEX cix_crm_company_snapshot_date
ON stg.crm_company (snapshot_date, company_id);
