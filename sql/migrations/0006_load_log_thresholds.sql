-- The churn thresholds each run used (docs/fact-rules.md rule 5). The procedure compares them with
-- those of every earlier succeeded run: when all match, no stored flag can differ from what this run's
-- thresholds give, and the re-check of the touched companies' other rows is skipped. Rows logged
-- before this migration keep NULL ("unknown"), which always forces the re-check.
ALTER TABLE etl.load_log ADD low_activity_threshold FLOAT NULL;

ALTER TABLE etl.load_log ADD stale_contact_days INT NULL;
