-- One row per company per day (docs/fact-rules.md, "Columns of the fact table").
CREATE TABLE dbo.fact_daily_company_activity (
    activity_date DATE NOT NULL,
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    company_name VARCHAR(200) NULL,
    industry_tag VARCHAR(100) NULL,
    country VARCHAR(100) NULL,
    daily_active_users INT NOT NULL,
    daily_events_count INT NOT NULL,
    [7d_rolling_active_users] FLOAT NOT NULL,
    days_since_last_contact INT NULL,
    is_churn_risk BIT NOT NULL,
    churn_risk_reason VARCHAR(64) NULL,
    loaded_at DATETIME2 NOT NULL,
    load_run_id NVARCHAR(100) NOT NULL,
    CONSTRAINT pk_fact_daily_company_activity PRIMARY KEY CLUSTERED (company_id, activity_date)
);

-- The procedure reads the 13-day window around @run_date through this index (its cost must follow
-- the companies of the window, not the table's history).
CREATE NONCLUSTERED INDEX ix_fact_daily_company_activity_activity_date
ON dbo.fact_daily_company_activity (activity_date)
INCLUDE (daily_active_users, daily_events_count);
