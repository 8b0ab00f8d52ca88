-- Physical design for 100,000 companies x 730 days on the default SKU (docs/warehouse.md, "Physical
-- design"; docs/fact-rules.md rule 7).
--
-- * The fact's rows move to dbo.fact_daily_company_activity_base, clustered by (activity_date,
--   company_id): a day's rows are appended at the end of the index and read as one range. Page
--   compression; the per-company reads of the procedure go through ix_..._company.
-- * The company attributes leave the rows: dbo.fact_daily_company_activity becomes the view that joins
--   each row to its company's current attributes in dbo.dim_company, so a CRM-wide rename changes
--   dim_company (one row per company) and no fact row.
-- * The rpt views read the base table and the dimension and give every text column the binary
--   collation: they group and compare text exactly as it is stored ('Retail' and 'retail' are two
--   groups), where the database collation would fold case.
-- * Staging rows record when they were staged, for the retention rule of the procedure.
--
-- On a database that already holds history this copies the fact table once (size-of-data, fully logged
-- on Azure SQL Database): deploy it in a maintenance window (docs/deploy.md).
DROP VIEW rpt.churn_risk_daily;
DROP VIEW rpt.company_latest;
DROP VIEW rpt.company_daily_activity;
DROP VIEW rpt.company_rolling_active_users;
DROP VIEW rpt.company_contacts;
DROP VIEW rpt.daily_summary;
DROP VIEW rpt.load_runs;
DROP VIEW rpt.data_freshness;

CREATE TABLE dbo.fact_daily_company_activity_base (
    activity_date DATE NOT NULL,
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    daily_active_users INT NOT NULL,
    daily_events_count INT NOT NULL,
    [7d_rolling_active_users] FLOAT NOT NULL,
    days_since_last_contact INT NULL,
    is_churn_risk BIT NOT NULL,
    churn_risk_reason VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NULL,
    loaded_at DATETIME2 NOT NULL,
    load_run_id NVARCHAR(100) NOT NULL,
    CONSTRAINT pk_fact_daily_company_activity_base PRIMARY KEY CLUSTERED (activity_date, company_id)
    WITH (DATA_COMPRESSION = PAGE)
);

-- The procedure reads the rows of the companies whose contact history or first_seen_date changed, by
-- company and date range: a seek per company, covering (no lookup into the clustered index).
CREATE NONCLUSTERED INDEX ix_fact_daily_company_activity_base_company
ON dbo.fact_daily_company_activity_base (company_id, activity_date)
INCLUDE (daily_active_users, daily_events_count)
WITH (DATA_COMPRESSION = PAGE);

INSERT INTO dbo.fact_daily_company_activity_base (
    activity_date, company_id, daily_active_users, daily_events_count, [7d_rolling_active_users],
    days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id
)
SELECT
    activity_date, company_id, daily_active_users, daily_events_count, [7d_rolling_active_users],
    days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id
FROM dbo.fact_daily_company_activity;

DROP TABLE dbo.fact_daily_company_activity;

ALTER TABLE stg.product_usage_daily ADD staged_at DATETIME2 NULL
CONSTRAINT df_product_usage_daily_staged_at DEFAULT SYSUTCDATETIME();

ALTER TABLE stg.crm_company ADD staged_at DATETIME2 NULL
CONSTRAINT df_crm_company_staged_at DEFAULT SYSUTCDATETIME();
GO

-- The fact as the seed defines it: one row per company and day, the company's current attributes.
CREATE VIEW dbo.fact_daily_company_activity AS
SELECT
    f.activity_date,
    f.company_id,
    d.company_name COLLATE Latin1_General_100_BIN2_UTF8 AS company_name,
    d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8 AS industry_tag,
    d.country COLLATE Latin1_General_100_BIN2_UTF8 AS country,
    f.daily_active_users,
    f.daily_events_count,
    f.[7d_rolling_active_users],
    f.days_since_last_contact,
    f.is_churn_risk,
    f.churn_risk_reason,
    f.loaded_at,
    f.load_run_id
FROM dbo.fact_daily_company_activity_base AS f
INNER JOIN dbo.dim_company AS d ON d.company_id = f.company_id;
GO

-- One row per company and day: the fact without its operational columns, churn reasons split into one
-- flag each.
CREATE VIEW rpt.company_daily_activity AS
SELECT
    f.activity_date,
    f.company_id,
    d.company_name COLLATE Latin1_General_100_BIN2_UTF8 AS company_name,
    d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8 AS industry_tag,
    d.country COLLATE Latin1_General_100_BIN2_UTF8 AS country,
    f.daily_active_users,
    f.daily_events_count,
    f.[7d_rolling_active_users] AS rolling_7d_active_users,
    f.days_since_last_contact,
    DATEADD(DAY, -f.days_since_last_contact, f.activity_date) AS last_contact_date,
    f.is_churn_risk,
    f.churn_risk_reason,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,low_activity,%' THEN 1 ELSE 0 END AS BIT)
        AS is_low_activity,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,stale_contact,%' THEN 1 ELSE 0 END AS BIT)
        AS is_stale_contact,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,no_contact,%' THEN 1 ELSE 0 END AS BIT)
        AS is_no_contact
FROM dbo.fact_daily_company_activity_base AS f
INNER JOIN dbo.dim_company AS d ON d.company_id = f.company_id;
GO

-- The latest loaded day of each company, with the same columns (the latest day per company is read from
-- ix_fact_daily_company_activity_base_company).
CREATE VIEW rpt.company_latest AS
SELECT
    d.activity_date,
    d.company_id,
    d.company_name,
    d.industry_tag,
    d.country,
    d.daily_active_users,
    d.daily_events_count,
    d.rolling_7d_active_users,
    d.days_since_last_contact,
    d.last_contact_date,
    d.is_churn_risk,
    d.churn_risk_reason,
    d.is_low_activity,
    d.is_stale_contact,
    d.is_no_contact
FROM rpt.company_daily_activity AS d
INNER JOIN (
    SELECT
        company_id,
        MAX(activity_date) AS latest_date
    FROM dbo.fact_daily_company_activity_base
    GROUP BY company_id
) AS l
    ON d.company_id = l.company_id AND d.activity_date = l.latest_date;
GO

-- Daily and 7-day rolling active users per company over time.
CREATE VIEW rpt.company_rolling_active_users AS
SELECT
    activity_date,
    company_id,
    daily_active_users,
    [7d_rolling_active_users] AS rolling_7d_active_users
FROM dbo.fact_daily_company_activity_base;
GO

-- Every CRM contact date seen for a company (the drill-down marks them).
CREATE VIEW rpt.company_contacts AS
SELECT
    company_id,
    contact_date
FROM dbo.crm_contact_history;
GO

-- One row per day: the headline numbers (KPIs).
CREATE VIEW rpt.daily_summary AS
SELECT
    activity_date,
    CAST(COUNT(*) AS INT) AS companies,
    CAST(SUM(CAST(daily_active_users AS BIGINT)) AS BIGINT) AS active_users,
    CAST(SUM(CAST(daily_events_count AS BIGINT)) AS BIGINT) AS events,
    CAST(SUM(CASE WHEN is_churn_risk = 1 THEN 1 ELSE 0 END) AS INT) AS companies_at_risk
FROM dbo.fact_daily_company_activity_base
GROUP BY activity_date;
GO

-- Companies at risk per day, reason, industry and country, in one pass over the at-risk rows. A company
-- with two reasons counts once under each; NULL industry or country is its own group. Industry and
-- country group as stored, case included ('Retail' and 'retail' are two groups); trailing spaces are
-- removed first, as SQL Server would group 'Retail ' with 'Retail' anyway.
CREATE VIEW rpt.churn_risk_daily AS
SELECT
    f.activity_date,
    r.churn_risk_reason,
    RTRIM(d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8) AS industry_tag,
    RTRIM(d.country COLLATE Latin1_General_100_BIN2_UTF8) AS country,
    CAST(COUNT(*) AS INT) AS companies_at_risk
FROM dbo.fact_daily_company_activity_base AS f
INNER JOIN dbo.dim_company AS d ON d.company_id = f.company_id
INNER JOIN (
    SELECT 'low_activity' COLLATE Latin1_General_100_BIN2_UTF8 AS churn_risk_reason
    UNION ALL
    SELECT 'stale_contact' COLLATE Latin1_General_100_BIN2_UTF8
    UNION ALL
    SELECT 'no_contact' COLLATE Latin1_General_100_BIN2_UTF8
) AS r
    ON
        (r.churn_risk_reason = 'low_activity' AND ',' + f.churn_risk_reason + ',' LIKE '%,low_activity,%')
        OR (r.churn_risk_reason = 'stale_contact' AND ',' + f.churn_risk_reason + ',' LIKE '%,stale_contact,%')
        OR (r.churn_risk_reason = 'no_contact' AND ',' + f.churn_risk_reason + ',' LIKE '%,no_contact,%')
WHERE f.is_churn_risk = 1
GROUP BY
    f.activity_date,
    r.churn_risk_reason,
    RTRIM(d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8),
    RTRIM(d.country COLLATE Latin1_General_100_BIN2_UTF8);
GO

-- The load log without its threshold bookkeeping, with each run's duration.
CREATE VIEW rpt.load_runs AS
SELECT
    load_id,
    run_id COLLATE Latin1_General_100_BIN2_UTF8 AS run_id,
    run_date,
    status COLLATE Latin1_General_100_BIN2_UTF8 AS status,
    rows_inserted,
    rows_updated,
    rows_deleted,
    message COLLATE Latin1_General_100_BIN2_UTF8 AS message,
    started_at,
    finished_at,
    DATEDIFF(SECOND, started_at, finished_at) AS duration_seconds
FROM etl.load_log;
GO

-- Data freshness, one row. The warehouse sees bronze through staging: the pipeline copies only
-- committed bronze days, so the latest staged usage day is the latest committed bronze day that
-- reached the warehouse.
CREATE VIEW rpt.data_freshness AS
SELECT
    (SELECT MAX(usage_date) FROM stg.product_usage_daily) AS latest_bronze_usage_date,
    (SELECT MAX(snapshot_date) FROM stg.crm_company) AS latest_crm_snapshot_date,
    (SELECT MAX(activity_date) FROM dbo.fact_daily_company_activity_base) AS latest_fact_date,
    (
        SELECT MAX(run_date) FROM etl.load_log WHERE status COLLATE Latin1_General_100_BIN2_UTF8 = 'succeeded'
    ) AS latest_succeeded_run_date,
    (
        SELECT MAX(finished_at) FROM etl.load_log WHERE status COLLATE Latin1_General_100_BIN2_UTF8 = 'succeeded'
    ) AS latest_succeeded_load_at,
    (
        SELECT MAX(finished_at) FROM etl.load_log WHERE status COLLATE Latin1_General_100_BIN2_UTF8 = 'failed'
    ) AS latest_failed_load_at,
    DATEDIFF(
        DAY,
        (SELECT MAX(activity_date) FROM dbo.fact_daily_company_activity_base),
        (SELECT MAX(usage_date) FROM stg.product_usage_daily)
    ) AS fact_lag_days;
