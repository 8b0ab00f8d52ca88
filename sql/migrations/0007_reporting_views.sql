-- The reporting contract (docs/warehouse.md, "Reporting views"): schema rpt holds the views that BI
-- tools and `company-activity dashboard` read; role rpt_reader may read them and nothing else.
-- Owned by dbo so that the views' ownership chain to the dbo/etl/stg tables holds: a member of
-- rpt_reader needs SELECT on rpt only, never on the tables behind it.
CREATE SCHEMA rpt AUTHORIZATION dbo;
GO

-- One row per company and day: the fact table without its operational columns, churn reasons split
-- into one flag each.
CREATE VIEW rpt.company_daily_activity AS
SELECT
    f.activity_date,
    f.company_id,
    f.company_name,
    f.industry_tag,
    f.country,
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
FROM dbo.fact_daily_company_activity AS f;
GO

-- The latest loaded day of each company, with the same columns.
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
    FROM dbo.fact_daily_company_activity
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
FROM dbo.fact_daily_company_activity;
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
FROM dbo.fact_daily_company_activity
GROUP BY activity_date;
GO

-- Companies at risk per day, reason, industry and country. A company with two reasons counts once
-- under each; NULL industry or country stays NULL.
CREATE VIEW rpt.churn_risk_daily AS
SELECT
    r.activity_date,
    r.churn_risk_reason,
    r.industry_tag,
    r.country,
    CAST(COUNT(*) AS INT) AS companies_at_risk
FROM (
    SELECT
        activity_date,
        'low_activity' AS churn_risk_reason,
        industry_tag,
        country
    FROM rpt.company_daily_activity
    WHERE is_low_activity = 1
    UNION ALL
    SELECT
        activity_date,
        'stale_contact' AS churn_risk_reason,
        industry_tag,
        country
    FROM rpt.company_daily_activity
    WHERE is_stale_contact = 1
    UNION ALL
    SELECT
        activity_date,
        'no_contact' AS churn_risk_reason,
        industry_tag,
        country
    FROM rpt.company_daily_activity
    WHERE is_no_contact = 1
) AS r
GROUP BY r.activity_date, r.churn_risk_reason, r.industry_tag, r.country;
GO

-- The load log without its threshold bookkeeping, with each run's duration.
CREATE VIEW rpt.load_runs AS
SELECT
    load_id,
    run_id,
    run_date,
    status,
    rows_inserted,
    rows_updated,
    rows_deleted,
    message,
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
    (SELECT MAX(activity_date) FROM dbo.fact_daily_company_activity) AS latest_fact_date,
    (SELECT MAX(run_date) FROM etl.load_log WHERE status = 'succeeded') AS latest_succeeded_run_date,
    (SELECT MAX(finished_at) FROM etl.load_log WHERE status = 'succeeded') AS latest_succeeded_load_at,
    (SELECT MAX(finished_at) FROM etl.load_log WHERE status = 'failed') AS latest_failed_load_at,
    DATEDIFF(
        DAY,
        (SELECT MAX(activity_date) FROM dbo.fact_daily_company_activity),
        (SELECT MAX(usage_date) FROM stg.product_usage_daily)
    ) AS fact_lag_days;
GO

-- Read-only access for BI: SELECT on schema rpt, nothing else (docs/deploy.md grants it to a group).
CREATE ROLE rpt_reader;
GRANT SELECT ON SCHEMA::rpt TO rpt_reader;
