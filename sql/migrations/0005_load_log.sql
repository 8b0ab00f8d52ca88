-- One row per procedure run: 'succeeded' with the row counts, or 'failed' with the error message
-- (written after the rollback, so it survives it).
CREATE TABLE etl.load_log (
    load_id INT IDENTITY (1, 1) NOT NULL,
    run_id NVARCHAR(100) NOT NULL,
    run_date DATE NOT NULL,
    status VARCHAR(16) NOT NULL,
    rows_inserted INT NOT NULL,
    rows_updated INT NOT NULL,
    rows_deleted INT NOT NULL,
    message NVARCHAR(4000) NULL,
    started_at DATETIME2 NOT NULL,
    finished_at DATETIME2 NOT NULL,
    CONSTRAINT pk_load_log PRIMARY KEY (load_id),
    CONSTRAINT ck_load_log_status CHECK (status IN ('succeeded', 'failed'))
);

CREATE NONCLUSTERED INDEX ix_load_log_run_date ON etl.load_log (run_date, run_id);
