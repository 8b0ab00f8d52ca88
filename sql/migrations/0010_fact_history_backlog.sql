-- The history the procedure leaves for later runs (docs/fact-rules.md rule 6, "Bounded work"): per company
-- the rows [recompute_from, recompute_to] that a CRM change moved beyond what one run recomputes
-- (@max_history_rows), and the rows their 7-day windows read from read_from on. A run takes these first;
-- an empty table means every stored row follows the rules.
CREATE TABLE etl.fact_history_backlog (
    company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
    read_from DATE NOT NULL,
    recompute_from DATE NOT NULL,
    recompute_to DATE NOT NULL,
    deferred_at DATETIME2 NOT NULL,
    run_id NVARCHAR(100) NOT NULL,
    CONSTRAINT pk_fact_history_backlog PRIMARY KEY (company_id)
);
