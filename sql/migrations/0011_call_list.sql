-- The call list (docs/dashboard.md, "Who to call first"; docs/warehouse.md, "Reporting views"): which
-- companies a customer-success team calls on a day, in which order and why, as views so that Power BI
-- and `company-activity dashboard` show the same list. Like the views of 0009, they read the fact's base
-- table and dbo.dim_company, and give every text column the binary collation: text is grouped, compared
-- and ordered as it is stored ('Retail' and 'retail' are two industries, as they are two attribute values).

-- Every loaded day (a day with fact rows) with the loaded day before it (NULL for the first one).
CREATE VIEW rpt.loaded_days AS
SELECT
    d.activity_date,
    MAX(d.activity_date) OVER (
        ORDER BY d.activity_date ROWS BETWEEN 1 PRECEDING AND 1 PRECEDING
    ) AS previous_loaded_date
FROM (
    SELECT DISTINCT activity_date
    FROM dbo.fact_daily_company_activity_base
) AS d;
GO

-- One row per company and day with the signals the call list ranks by:
--   is_in_crm: the company has been in a loaded CRM snapshot (dbo.dim_company.crm_snapshot_date);
--   rolling_7d_week_before: the 7-day average 7 days before (the 7 days before this 7-day window);
--   is_sharp_drop: that average was at least 1 user and the 7-day average is now half of it or less;
--   is_newly_at_risk_previous_day / _week_before: at risk now and not at risk (or without a row) on the
--   previous loaded day / 7 days before; NULL when that day is not loaded (unknown, never "new").
CREATE VIEW rpt.company_signals_daily AS
SELECT
    f.activity_date,
    f.company_id,
    d.company_name COLLATE Latin1_General_100_BIN2_UTF8 AS company_name,
    d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8 AS industry_tag,
    d.country COLLATE Latin1_General_100_BIN2_UTF8 AS country,
    CAST(CASE WHEN d.crm_snapshot_date IS NULL THEN 0 ELSE 1 END AS BIT) AS is_in_crm,
    f.daily_active_users,
    f.[7d_rolling_active_users] AS rolling_7d_active_users,
    w.[7d_rolling_active_users] AS rolling_7d_week_before,
    f.days_since_last_contact,
    DATEADD(DAY, -f.days_since_last_contact, f.activity_date) AS last_contact_date,
    f.is_churn_risk,
    f.churn_risk_reason,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,low_activity,%' THEN 1 ELSE 0 END AS BIT)
        AS is_low_activity,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,stale_contact,%' THEN 1 ELSE 0 END AS BIT)
        AS is_stale_contact,
    CAST(CASE WHEN ',' + f.churn_risk_reason + ',' LIKE '%,no_contact,%' THEN 1 ELSE 0 END AS BIT)
        AS is_no_contact,
    CAST(
        CASE
            WHEN w.[7d_rolling_active_users] >= 1.0
                AND f.[7d_rolling_active_users] <= 0.5 * w.[7d_rolling_active_users] THEN 1
            ELSE 0
        END AS BIT
    ) AS is_sharp_drop,
    CAST(
        CASE
            WHEN l.previous_loaded_date IS NULL THEN NULL
            WHEN f.is_churn_risk = 1 AND p.company_id IS NULL THEN 1
            ELSE 0
        END AS BIT
    ) AS is_newly_at_risk_previous_day,
    CAST(
        CASE
            WHEN lw.activity_date IS NULL THEN NULL
            WHEN f.is_churn_risk = 1 AND (w.company_id IS NULL OR w.is_churn_risk = 0) THEN 1
            ELSE 0
        END AS BIT
    ) AS is_newly_at_risk_week_before
FROM dbo.fact_daily_company_activity_base AS f
INNER JOIN dbo.dim_company AS d
    ON d.company_id = f.company_id
INNER JOIN rpt.loaded_days AS l
    ON f.activity_date = l.activity_date
LEFT JOIN rpt.loaded_days AS lw
    ON lw.activity_date = DATEADD(DAY, -7, f.activity_date)
LEFT JOIN (
    -- only the at-risk rows: "at risk the previous loaded day" is "has such a row"
    SELECT
        company_id,
        activity_date
    FROM dbo.fact_daily_company_activity_base
    WHERE is_churn_risk = 1
) AS p
    ON p.company_id = f.company_id AND p.activity_date = l.previous_loaded_date
LEFT JOIN dbo.fact_daily_company_activity_base AS w
    ON w.company_id = f.company_id AND w.activity_date = DATEADD(DAY, -7, f.activity_date);
GO

-- The call list: companies in the CRM that are at risk or dropped sharply, one row per company and day,
-- with a severity (1 = call first) and their rank on the day (call_rank 1, 2, ...):
--   1 new or dropping: newly at risk since the previous loaded day or since 7 days before, or a sharp drop;
--   2 low activity;   3 stale contact (stale_contact or no_contact: every other at-risk company).
-- Within a severity: the most users lost against the week before first, then the longest without
-- contact (never contacted first), then company_id.
CREATE VIEW rpt.call_list AS
SELECT
    s.activity_date,
    s.company_id,
    s.company_name,
    s.industry_tag,
    s.country,
    s.daily_active_users,
    s.rolling_7d_active_users,
    s.rolling_7d_week_before,
    s.days_since_last_contact,
    s.last_contact_date,
    s.is_churn_risk,
    s.churn_risk_reason,
    s.is_low_activity,
    s.is_stale_contact,
    s.is_no_contact,
    s.is_sharp_drop,
    s.is_newly_at_risk_previous_day,
    s.is_newly_at_risk_week_before,
    s.severity,
    CASE s.severity
        WHEN 1 THEN 'new or dropping'
        WHEN 2 THEN 'low activity'
        ELSE 'stale contact'
    END AS severity_label,
    ROW_NUMBER() OVER (
        PARTITION BY s.activity_date
        ORDER BY
            s.severity,
            s.users_lost DESC,
            CASE WHEN s.days_since_last_contact IS NULL THEN 1 ELSE 0 END DESC,
            s.days_since_last_contact DESC,
            s.company_id
    ) AS call_rank
FROM (
    SELECT
        activity_date,
        company_id,
        company_name,
        industry_tag,
        country,
        daily_active_users,
        rolling_7d_active_users,
        rolling_7d_week_before,
        days_since_last_contact,
        last_contact_date,
        is_churn_risk,
        churn_risk_reason,
        is_low_activity,
        is_stale_contact,
        is_no_contact,
        is_sharp_drop,
        is_newly_at_risk_previous_day,
        is_newly_at_risk_week_before,
        CASE
            WHEN is_sharp_drop = 1 OR is_newly_at_risk_previous_day = 1 OR is_newly_at_risk_week_before = 1 THEN 1
            WHEN is_low_activity = 1 THEN 2
            ELSE 3
        END AS severity,
        COALESCE(rolling_7d_week_before - rolling_7d_active_users, 0.0) AS users_lost
    FROM rpt.company_signals_daily
    WHERE is_in_crm = 1 AND (is_churn_risk = 1 OR is_sharp_drop = 1)
) AS s;
GO

-- Data quality: usage from companies that are in no loaded CRM snapshot (nobody can call them; they
-- are flagged no_contact in the fact table), one row per company and day with usage.
CREATE VIEW rpt.usage_without_crm AS
SELECT
    f.activity_date,
    f.company_id,
    f.daily_active_users,
    f.[7d_rolling_active_users] AS rolling_7d_active_users,
    d.first_seen_date
FROM dbo.fact_daily_company_activity_base AS f
INNER JOIN dbo.dim_company AS d
    ON d.company_id = f.company_id
WHERE d.crm_snapshot_date IS NULL;
GO

-- The day's numbers per industry and country (NULL is its own group), for KPIs and charts that filter by
-- them: every company, the at-risk ones by reason, the call list and its signals, usage without CRM.
-- Industry and country group as stored, case included; trailing spaces are removed first, as SQL Server
-- would group 'Retail ' with 'Retail' anyway (as rpt.churn_risk_daily does).
CREATE VIEW rpt.call_list_daily AS
SELECT
    activity_date,
    RTRIM(industry_tag COLLATE Latin1_General_100_BIN2_UTF8) AS industry_tag,
    RTRIM(country COLLATE Latin1_General_100_BIN2_UTF8) AS country,
    CAST(COUNT(*) AS INT) AS companies,
    CAST(SUM(CAST(daily_active_users AS BIGINT)) AS BIGINT) AS active_users,
    CAST(SUM(CASE WHEN is_churn_risk = 1 THEN 1 ELSE 0 END) AS INT) AS companies_at_risk,
    CAST(SUM(CASE WHEN is_low_activity = 1 THEN 1 ELSE 0 END) AS INT) AS low_activity,
    CAST(SUM(CASE WHEN is_stale_contact = 1 THEN 1 ELSE 0 END) AS INT) AS stale_contact,
    CAST(SUM(CASE WHEN is_no_contact = 1 THEN 1 ELSE 0 END) AS INT) AS no_contact,
    CAST(SUM(CASE WHEN is_in_crm = 1 AND (is_churn_risk = 1 OR is_sharp_drop = 1) THEN 1 ELSE 0 END) AS INT)
        AS call_list,
    CAST(SUM(CASE WHEN is_in_crm = 1 AND is_sharp_drop = 1 THEN 1 ELSE 0 END) AS INT) AS sharp_drops,
    CAST(SUM(CASE WHEN is_in_crm = 1 AND is_newly_at_risk_previous_day = 1 THEN 1 ELSE 0 END) AS INT)
        AS newly_at_risk_previous_day,
    CAST(SUM(CASE WHEN is_in_crm = 1 AND is_newly_at_risk_week_before = 1 THEN 1 ELSE 0 END) AS INT)
        AS newly_at_risk_week_before,
    CAST(SUM(CASE WHEN is_in_crm = 0 THEN 1 ELSE 0 END) AS INT) AS usage_without_crm
FROM rpt.company_signals_daily
GROUP BY
    activity_date,
    RTRIM(industry_tag COLLATE Latin1_General_100_BIN2_UTF8),
    RTRIM(country COLLATE Latin1_General_100_BIN2_UTF8);
