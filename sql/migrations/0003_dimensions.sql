-- Stored CRM state (docs/fact-rules.md, "Stored state").
CREATE TABLE dbo.dim_company (
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    company_name VARCHAR(200) NULL,
    industry_tag VARCHAR(100) NULL,
    country VARCHAR(100) NULL,
    crm_snapshot_date DATE NULL,
    in_latest_crm_snapshot BIT NOT NULL,
    first_seen_date DATE NOT NULL,
    CONSTRAINT pk_dim_company PRIMARY KEY (company_id)
);

CREATE TABLE dbo.crm_contact_history (
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    contact_date DATE NOT NULL,
    CONSTRAINT pk_crm_contact_history PRIMARY KEY (company_id, contact_date)
);
