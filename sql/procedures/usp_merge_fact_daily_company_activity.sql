-- Loads one business date into dbo.fact_daily_company_activity: docs/fact-rules.md rules 1-9.
-- Set-based and incremental: it reads the staged rows of @run_date, the fact rows of the window
-- [@run_date - 6, @run_date + 6] and, for the companies whose first_seen_date or contact history changed
-- in this run, the rows that change can move; never the whole history. The fact's rows are stored in
-- dbo.fact_daily_company_activity_base; dbo.fact_daily_company_activity is the view that joins each row
-- to its company's current attributes (rule 7), so a change of attributes rewrites no fact row.
CREATE OR ALTER PROCEDURE dbo.usp_merge_fact_daily_company_activity
    @run_date DATE,
    @run_id NVARCHAR(100),
    @low_activity_threshold FLOAT = 1.0,
    @stale_contact_days INT = 90,
    @staging_retention_days INT = 35,
    @max_history_rows INT = 2000000
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;

    -- Bad arguments: refused before anything is attempted (no load_log row, nothing changes).
    IF @run_date IS NULL OR @run_id IS NULL OR @low_activity_threshold IS NULL OR @stale_contact_days IS NULL
        OR @staging_retention_days IS NULL OR @max_history_rows IS NULL
        THROW 50000, N'usp_merge_fact_daily_company_activity: @run_date, @run_id, @low_activity_threshold, @stale_contact_days, @staging_retention_days and @max_history_rows must not be NULL', 1;
    IF @staging_retention_days < 7
        THROW 50000, N'usp_merge_fact_daily_company_activity: @staging_retention_days must be at least 7', 1;

    DECLARE @started_at DATETIME2 = SYSUTCDATETIME();
    DECLARE @window_start DATE = DATEADD(DAY, -6, @run_date);
    DECLARE @window_end DATE = DATEADD(DAY, 6, @run_date);
    DECLARE @has_snapshot INT = 0;
    DECLARE @snapshot_is_newest INT = 0;
    DECLARE @latest_snapshot_date DATE;
    DECLARE @duplicate_company_id VARCHAR(64);
    DECLARE @bad_contact_date DATE;
    DECLARE @oldest_staged DATE;
    DECLARE @purge_before DATE;
    DECLARE @lock_result INT;
    DECLARE @rows_inserted INT = 0;
    DECLARE @rows_updated INT = 0;
    DECLARE @rows_deleted INT = 0;
    DECLARE @error_message NVARCHAR(4000);
    DECLARE @touched_read_from DATE;
    DECLARE @scope_from DATE;
    DECLARE @scope_to DATE;
    DECLARE @run_message NVARCHAR(4000);
    DECLARE @rows_rechecked INT;
    DECLARE @history_end DATE;
    DECLARE @history_days INT;
    DECLARE @touched_companies INT;
    DECLARE @companies_deferred INT = 0;
    DECLARE @backlog_companies INT = 0;

    BEGIN TRY
        -- Work tables live for this call only. Explicit collations: tempdb may use another collation
        -- than the database, and joins with dbo tables must not conflict (company_id is binary).
        CREATE TABLE #usage (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY,
            active_users INT NOT NULL,
            events INT NOT NULL
        );
        CREATE TABLE #snapshot (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY,
            company_name VARCHAR(200) COLLATE DATABASE_DEFAULT NULL,
            industry_tag VARCHAR(100) COLLATE DATABASE_DEFAULT NULL,
            country VARCHAR(100) COLLATE DATABASE_DEFAULT NULL,
            last_contact_date DATE NULL
        );
        -- Companies whose first_seen_date or contact history change in this run, and the rows
        -- [recompute_from, recompute_to] whose rolling average or days since the last contact that change
        -- can move (their 7-day windows start at read_from). Rule 6 covers every row of these companies:
        -- the other rows keep those values, only their flags can differ.
        CREATE TABLE #touched (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY,
            read_from DATE NOT NULL,
            recompute_from DATE NOT NULL,
            recompute_to DATE NOT NULL,
            slice_from DATE NULL
        );
        -- The rows of @run_date after this run (rule 2) with their daily values.
        CREATE TABLE #grain (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY,
            daily_active_users INT NOT NULL,
            daily_events_count INT NOT NULL
        );
        -- Daily values of the rows to recompute (in_scope = 1) and of the rows their 7-day windows read.
        CREATE TABLE #daily (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
            activity_date DATE NOT NULL,
            daily_active_users INT NOT NULL,
            daily_events_count INT NOT NULL,
            in_scope INT NOT NULL,
            PRIMARY KEY (company_id, activity_date)
        );
        -- The recomputed rows, every column as it must be stored.
        CREATE TABLE #result (
            company_id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL,
            activity_date DATE NOT NULL,
            daily_active_users INT NOT NULL,
            daily_events_count INT NOT NULL,
            rolling_active_users FLOAT NOT NULL,
            days_since_last_contact INT NULL,
            is_churn_risk BIT NOT NULL,
            churn_risk_reason VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NULL,
            PRIMARY KEY (company_id, activity_date)
        );

        BEGIN TRANSACTION;

        -- Rule 9: two runs never interleave (released with the transaction).
        EXEC @lock_result = sp_getapplock
            @Resource = N'dbo.usp_merge_fact_daily_company_activity',
            @LockMode = N'Exclusive',
            @LockOwner = N'Transaction',
            @LockTimeout = 600000;
        IF @lock_result < 0
            THROW 50003, N'usp_merge_fact_daily_company_activity: could not acquire the load lock (another run holds it)', 1;

        -- The ingestion and CRM contracts (docs/usage-api.md, docs/crm.md): an id with leading or trailing
        -- spaces is refused. SQL Server ignores trailing spaces when it compares ids, so 'acme ' would be
        -- the company 'acme' there and another one on DuckDB. The pipeline's copies load what bronze and
        -- the CSV hold, so this is where those paths refuse it, before the duplicate checks (which then
        -- find the same duplicates on every engine). Ids in messages are escaped for THROW (% -> %%).
        SELECT TOP (1) @duplicate_company_id = company_id
        FROM stg.product_usage_daily
        WHERE usage_date = @run_date AND (LEFT(company_id, 1) = ' ' OR RIGHT(company_id, 1) = ' ')
        ORDER BY company_id;
        IF @duplicate_company_id IS NOT NULL
        BEGIN
            SET @error_message = CONCAT(
                N'stg.product_usage_daily: company_id ''',
                REPLACE(@duplicate_company_id COLLATE Latin1_General_100_BIN2_UTF8, N'%', N'%%'),
                N''' of usage_date ', @run_date, N' has leading or trailing whitespace (docs/usage-api.md)'
            );
            THROW 50005, @error_message, 1;
        END;

        SELECT TOP (1) @duplicate_company_id = company_id
        FROM stg.crm_company
        WHERE snapshot_date = @run_date AND (LEFT(company_id, 1) = ' ' OR RIGHT(company_id, 1) = ' ')
        ORDER BY company_id;
        IF @duplicate_company_id IS NOT NULL
        BEGIN
            SET @error_message = CONCAT(
                N'stg.crm_company: company_id ''',
                REPLACE(@duplicate_company_id COLLATE Latin1_General_100_BIN2_UTF8, N'%', N'%%'),
                N''' of snapshot_date ', @run_date, N' has leading or trailing whitespace (docs/crm.md)'
            );
            THROW 50004, @error_message, 1;
        END;

        -- A company_id twice in one staged day is an error on every engine (never merged silently).
        SELECT TOP (1) @duplicate_company_id = company_id
        FROM stg.product_usage_daily
        WHERE usage_date = @run_date
        GROUP BY company_id
        HAVING COUNT(*) > 1
        ORDER BY company_id;
        IF @duplicate_company_id IS NOT NULL
        BEGIN
            SET @error_message = CONCAT(
                N'stg.product_usage_daily has duplicate rows for usage_date ', @run_date, N' (e.g. company_id ''',
                REPLACE(@duplicate_company_id COLLATE Latin1_General_100_BIN2_UTF8, N'%', N'%%'), N''')'
            );
            THROW 50001, @error_message, 1;
        END;

        SELECT TOP (1) @duplicate_company_id = company_id
        FROM stg.crm_company
        WHERE snapshot_date = @run_date
        GROUP BY company_id
        HAVING COUNT(*) > 1
        ORDER BY company_id;
        IF @duplicate_company_id IS NOT NULL
        BEGIN
            SET @error_message = CONCAT(
                N'stg.crm_company has duplicate rows for snapshot_date ', @run_date, N' (e.g. company_id ''',
                REPLACE(@duplicate_company_id COLLATE Latin1_General_100_BIN2_UTF8, N'%', N'%%'), N''')'
            );
            THROW 50002, @error_message, 1;
        END;

        -- The CRM contract: a contact date before 1900-01-01 is a placeholder, not a contact (and one before
        -- 0001-01-07 would overflow the 7-day window arithmetic below: error 517).
        SELECT TOP (1) @duplicate_company_id = company_id, @bad_contact_date = last_contact_date
        FROM stg.crm_company
        WHERE snapshot_date = @run_date AND last_contact_date < CAST('1900-01-01' AS DATE)
        ORDER BY company_id;
        IF @bad_contact_date IS NOT NULL
        BEGIN
            SET @error_message = CONCAT(
                N'stg.crm_company: company_id ''',
                REPLACE(@duplicate_company_id COLLATE Latin1_General_100_BIN2_UTF8, N'%', N'%%'),
                N''' of snapshot_date ', @run_date, N' has last_contact_date ', @bad_contact_date,
                N', before 1900-01-01 (docs/crm.md)'
            );
            THROW 50006, @error_message, 1;
        END;

        INSERT INTO #usage (company_id, active_users, events)
        SELECT company_id, active_users, events
        FROM stg.product_usage_daily
        WHERE usage_date = @run_date;

        INSERT INTO #snapshot (company_id, company_name, industry_tag, country, last_contact_date)
        SELECT company_id, company_name, industry_tag, country, last_contact_date
        FROM stg.crm_company
        WHERE snapshot_date = @run_date;

        IF EXISTS (SELECT 1 FROM #snapshot)
            SET @has_snapshot = 1;

        -- The newest snapshot loaded so far, before this run.
        SELECT @latest_snapshot_date = MAX(crm_snapshot_date) FROM dbo.dim_company;
        IF @has_snapshot = 1 AND (@latest_snapshot_date IS NULL OR @run_date >= @latest_snapshot_date)
            SET @snapshot_is_newest = 1;

        -- Rule 6, measured before rule 1 changes the stored state. Companies new to dim_company have
        -- no stored rows, so only known companies are listed. A company with several changes gets the
        -- span of their ranges.
        INSERT INTO #touched (company_id, read_from, recompute_from, recompute_to)
        SELECT c.company_id, MIN(c.read_from), MIN(c.recompute_from), MAX(c.recompute_to)
        FROM (
        -- first_seen_date moves back to @run_date: the divisor N (rule 3) changes for the rows up to
        -- the old first_seen_date + 6 (later rows divide by 7 either way; none is older than @run_date).
        SELECT
            d.company_id,
            DATEADD(DAY, -6, @run_date) AS read_from,
            @run_date AS recompute_from,
            DATEADD(DAY, 6, d.first_seen_date) AS recompute_to
        FROM dbo.dim_company AS d
        INNER JOIN (
            SELECT company_id FROM #usage
            UNION
            SELECT company_id FROM #snapshot
        ) AS seen ON seen.company_id = d.company_id
        WHERE d.first_seen_date > @run_date
        UNION ALL
        -- A new contact date C: days since the last contact (rule 4) of the rows dated C or later, up to
        -- the day before the next contact date already known (rows from there on keep their last contact).
        SELECT
            s.company_id,
            DATEADD(DAY, -6, s.last_contact_date) AS read_from,
            s.last_contact_date AS recompute_from,
            COALESCE(
                (
                    SELECT DATEADD(DAY, -1, MIN(h.contact_date))
                    FROM dbo.crm_contact_history AS h
                    WHERE h.company_id = s.company_id AND h.contact_date > s.last_contact_date
                ),
                CAST('9999-12-31' AS DATE)
            ) AS recompute_to
        FROM #snapshot AS s
        INNER JOIN dbo.dim_company AS d ON d.company_id = s.company_id
        WHERE
            s.last_contact_date IS NOT NULL
            AND NOT EXISTS (
                SELECT 1
                FROM dbo.crm_contact_history AS h
                WHERE h.company_id = s.company_id AND h.contact_date = s.last_contact_date
            )
        UNION ALL
        -- Ranges an earlier run deferred (below): they are recomputed now or deferred again.
        SELECT b.company_id, b.read_from, b.recompute_from, b.recompute_to
        FROM etl.fact_history_backlog AS b
        ) AS c
        GROUP BY c.company_id;

        -- Bounded work: a CRM change that moves much history (contact dates set far back for every company,
        -- say) would rewrite up to the whole table in this one transaction. A run recomputes, of each
        -- touched range, only its newest @max_history_rows / (touched companies) days; the older part goes
        -- to etl.fact_history_backlog and the next runs take it first, newest days first again (a rerun of
        -- the same date is one more batch). Deferred rows keep the values they had until then
        -- (docs/fact-rules.md, rule 6).
        SELECT @touched_companies = COUNT(*) FROM #touched;
        SELECT @history_end = MAX(activity_date) FROM dbo.fact_daily_company_activity_base;
        IF @touched_companies > 0 AND @history_end IS NOT NULL
        BEGIN
            SET @history_days = @max_history_rows / @touched_companies;
            IF @history_days < 1
                SET @history_days = 1;
            UPDATE #touched
            SET slice_from = CASE
                WHEN DATEDIFF(
                    DAY, recompute_from, CASE WHEN recompute_to < @history_end THEN recompute_to ELSE @history_end END
                ) < @history_days
                    THEN recompute_from
                ELSE DATEADD(
                    DAY, 1 - @history_days, CASE WHEN recompute_to < @history_end THEN recompute_to ELSE @history_end END
                )
            END;

            DELETE FROM etl.fact_history_backlog
            WHERE company_id IN (SELECT t.company_id FROM #touched AS t);
            INSERT INTO etl.fact_history_backlog (
                company_id, read_from, recompute_from, recompute_to, deferred_at, run_id
            )
            SELECT t.company_id, t.read_from, t.recompute_from, DATEADD(DAY, -1, t.slice_from), @started_at, @run_id
            FROM #touched AS t
            WHERE t.recompute_from < t.slice_from;
            SET @companies_deferred = @@ROWCOUNT;

            UPDATE #touched
            SET recompute_from = slice_from, read_from = DATEADD(DAY, -6, slice_from)
            WHERE recompute_from < slice_from;
        END;

        -- The oldest row the touched ranges read (lets the reads below skip older dates).
        SELECT @touched_read_from = MIN(read_from) FROM #touched;

        -- Rule 1: contact history keeps every contact date ever seen.
        INSERT INTO dbo.crm_contact_history (company_id, contact_date)
        SELECT s.company_id, s.last_contact_date
        FROM #snapshot AS s
        WHERE
            s.last_contact_date IS NOT NULL
            AND NOT EXISTS (
                SELECT 1
                FROM dbo.crm_contact_history AS h
                WHERE h.company_id = s.company_id AND h.contact_date = s.last_contact_date
            );

        -- Rule 1: attributes come from the newest snapshot containing the company; first_seen_date
        -- is the earliest date the company appeared; usage-only companies get NULL attributes.
        MERGE dbo.dim_company AS d
        USING (
            SELECT
                COALESCE(s.company_id, u.company_id) AS company_id,
                s.company_name,
                s.industry_tag,
                s.country,
                CASE WHEN s.company_id IS NULL THEN 0 ELSE 1 END AS in_snapshot
            FROM #snapshot AS s
            FULL OUTER JOIN #usage AS u ON u.company_id = s.company_id
        ) AS src
        ON d.company_id = src.company_id
        WHEN MATCHED AND (
            d.first_seen_date > @run_date
            OR (
                src.in_snapshot = 1
                AND (d.crm_snapshot_date IS NULL OR d.crm_snapshot_date <= @run_date)
                AND (
                    d.crm_snapshot_date IS DISTINCT FROM @run_date
                    OR d.company_name COLLATE Latin1_General_100_BIN2_UTF8 IS DISTINCT FROM src.company_name
                    OR d.industry_tag COLLATE Latin1_General_100_BIN2_UTF8 IS DISTINCT FROM src.industry_tag
                    OR d.country COLLATE Latin1_General_100_BIN2_UTF8 IS DISTINCT FROM src.country
                )
            )
        ) THEN UPDATE SET
            company_name = CASE
                WHEN src.in_snapshot = 1 AND (d.crm_snapshot_date IS NULL OR d.crm_snapshot_date <= @run_date)
                    THEN src.company_name
                ELSE d.company_name
            END,
            industry_tag = CASE
                WHEN src.in_snapshot = 1 AND (d.crm_snapshot_date IS NULL OR d.crm_snapshot_date <= @run_date)
                    THEN src.industry_tag
                ELSE d.industry_tag
            END,
            country = CASE
                WHEN src.in_snapshot = 1 AND (d.crm_snapshot_date IS NULL OR d.crm_snapshot_date <= @run_date)
                    THEN src.country
                ELSE d.country
            END,
            crm_snapshot_date = CASE
                WHEN src.in_snapshot = 1 AND (d.crm_snapshot_date IS NULL OR d.crm_snapshot_date <= @run_date)
                    THEN @run_date
                ELSE d.crm_snapshot_date
            END,
            first_seen_date = CASE WHEN d.first_seen_date > @run_date THEN @run_date ELSE d.first_seen_date END
        WHEN NOT MATCHED THEN
            INSERT (
                company_id, company_name, industry_tag, country,
                crm_snapshot_date, in_latest_crm_snapshot, first_seen_date
            )
            VALUES (
                src.company_id, src.company_name, src.industry_tag, src.country,
                CASE WHEN src.in_snapshot = 1 THEN @run_date END,
                CASE WHEN src.in_snapshot = 1 AND @snapshot_is_newest = 1 THEN 1 ELSE 0 END,
                @run_date
            );

        -- Rule 1: in_latest_crm_snapshot follows the newest snapshot loaded so far.
        IF @snapshot_is_newest = 1
        BEGIN
            UPDATE d
            SET in_latest_crm_snapshot = 0
            FROM dbo.dim_company AS d
            WHERE
                d.in_latest_crm_snapshot = 1
                AND NOT EXISTS (SELECT 1 FROM #snapshot AS s WHERE s.company_id = d.company_id);

            UPDATE d
            SET in_latest_crm_snapshot = 1
            FROM dbo.dim_company AS d
            INNER JOIN #snapshot AS s ON s.company_id = d.company_id
            WHERE d.in_latest_crm_snapshot = 0;
        END;

        -- Rule 2: the rows of @run_date are the companies with usage plus the CRM set of the date.
        INSERT INTO #grain (company_id, daily_active_users, daily_events_count)
        SELECT g.company_id, COALESCE(u.active_users, 0), COALESCE(u.events, 0)
        FROM (
            SELECT company_id FROM #usage
            UNION
            SELECT company_id FROM #snapshot
            UNION
            SELECT d.company_id
            FROM dbo.dim_company AS d
            WHERE @has_snapshot = 0 AND d.in_latest_crm_snapshot = 1 AND d.first_seen_date <= @run_date
        ) AS g
        LEFT JOIN #usage AS u ON u.company_id = g.company_id;

        DELETE FROM dbo.fact_daily_company_activity_base
        WHERE
            activity_date = @run_date
            AND company_id NOT IN (SELECT g.company_id FROM #grain AS g);
        SET @rows_deleted = @@ROWCOUNT;

        -- Rule 6: the new day, the stored rows of the window (the later ones are recomputed, the
        -- earlier ones feed the averages) and the ranges of the touched companies. Two seekable
        -- reads (the clustered key by date, then ix_..._company per touched company and range).
        INSERT INTO #daily (company_id, activity_date, daily_active_users, daily_events_count, in_scope)
        SELECT company_id, @run_date, daily_active_users, daily_events_count, 1
        FROM #grain;

        INSERT INTO #daily (company_id, activity_date, daily_active_users, daily_events_count, in_scope)
        SELECT
            f.company_id,
            f.activity_date,
            f.daily_active_users,
            f.daily_events_count,
            CASE
                WHEN f.activity_date > @run_date THEN 1
                WHEN EXISTS (
                    SELECT 1
                    FROM #touched AS t
                    WHERE
                        t.company_id = f.company_id
                        AND f.activity_date >= t.recompute_from
                        AND f.activity_date <= t.recompute_to
                ) THEN 1
                ELSE 0
            END
        FROM dbo.fact_daily_company_activity_base AS f
        WHERE f.activity_date >= @window_start AND f.activity_date <= @window_end AND f.activity_date <> @run_date;

        INSERT INTO #daily (company_id, activity_date, daily_active_users, daily_events_count, in_scope)
        SELECT
            f.company_id,
            f.activity_date,
            f.daily_active_users,
            f.daily_events_count,
            CASE WHEN f.activity_date >= t.recompute_from AND f.activity_date <= t.recompute_to THEN 1 ELSE 0 END
        FROM #touched AS t
        INNER JOIN dbo.fact_daily_company_activity_base AS f
            ON
                f.company_id = t.company_id
                AND f.activity_date >= t.read_from
                AND f.activity_date <= t.recompute_to
        WHERE
            (f.activity_date < @window_start OR f.activity_date > @window_end)
            AND f.activity_date >= @touched_read_from;

        -- Rules 3, 4 and 5 for every row in scope (rule 7 is the view's join to dim_company).
        INSERT INTO #result (
            company_id, activity_date,
            daily_active_users, daily_events_count, rolling_active_users,
            days_since_last_contact, is_churn_risk, churn_risk_reason
        )
        SELECT
            x.company_id,
            x.activity_date,
            x.daily_active_users,
            x.daily_events_count,
            x.rolling_active_users,
            x.days_since_last_contact,
            CAST(CASE
                WHEN x.rolling_active_users < @low_activity_threshold
                    OR x.days_since_last_contact > @stale_contact_days
                    OR x.days_since_last_contact IS NULL
                    THEN 1
                ELSE 0
            END AS BIT),
            NULLIF(CONCAT_WS(
                ',',
                CASE WHEN x.rolling_active_users < @low_activity_threshold THEN 'low_activity' END,
                CASE WHEN x.days_since_last_contact > @stale_contact_days THEN 'stale_contact' END,
                CASE WHEN x.days_since_last_contact IS NULL THEN 'no_contact' END
            ), '')
        FROM (
            SELECT
                w.company_id,
                w.activity_date,
                w.daily_active_users,
                w.daily_events_count,
                -- S / N with N = min(7, days since first_seen_date + 1).
                CAST(w.active_users_7d AS FLOAT) / CASE
                    WHEN DATEDIFF(DAY, d.first_seen_date, w.activity_date) < 6
                        THEN DATEDIFF(DAY, d.first_seen_date, w.activity_date) + 1
                    ELSE 7
                END AS rolling_active_users,
                DATEDIFF(
                    DAY,
                    (
                        SELECT MAX(h.contact_date)
                        FROM dbo.crm_contact_history AS h
                        WHERE h.company_id = w.company_id AND h.contact_date <= w.activity_date
                    ),
                    w.activity_date
                ) AS days_since_last_contact
            FROM (
                SELECT
                    s.company_id,
                    s.activity_date,
                    s.daily_active_users,
                    s.daily_events_count,
                    SUM(CAST(p.daily_active_users AS BIGINT)) AS active_users_7d
                FROM #daily AS s
                INNER JOIN #daily AS p
                    ON
                        p.company_id = s.company_id
                        AND p.activity_date >= DATEADD(DAY, -6, s.activity_date)
                        AND p.activity_date <= s.activity_date
                WHERE s.in_scope = 1
                GROUP BY s.company_id, s.activity_date, s.daily_active_users, s.daily_events_count
            ) AS w
            INNER JOIN dbo.dim_company AS d ON d.company_id = w.company_id
        ) AS x;

        -- Rule 8: only rows whose values differ are written (NULL-safe), and only they get the
        -- new loaded_at / load_run_id. The date bounds repeat the join for engines that cannot seek
        -- through it (DuckDB then skips the row groups outside them).
        SELECT @scope_from = MIN(activity_date), @scope_to = MAX(activity_date) FROM #result;

        UPDATE f
        SET
            daily_active_users = r.daily_active_users,
            daily_events_count = r.daily_events_count,
            [7d_rolling_active_users] = r.rolling_active_users,
            days_since_last_contact = r.days_since_last_contact,
            is_churn_risk = r.is_churn_risk,
            churn_risk_reason = r.churn_risk_reason,
            loaded_at = @started_at,
            load_run_id = @run_id
        FROM dbo.fact_daily_company_activity_base AS f
        INNER JOIN #result AS r ON r.company_id = f.company_id AND r.activity_date = f.activity_date
        WHERE
            f.activity_date >= @scope_from
            AND f.activity_date <= @scope_to
            AND (
            f.daily_active_users <> r.daily_active_users
            OR f.daily_events_count <> r.daily_events_count
            OR f.[7d_rolling_active_users] <> r.rolling_active_users
            OR f.days_since_last_contact IS DISTINCT FROM r.days_since_last_contact
            OR f.is_churn_risk <> r.is_churn_risk
            OR f.churn_risk_reason IS DISTINCT FROM r.churn_risk_reason
            );
        SET @rows_updated = @@ROWCOUNT;

        INSERT INTO dbo.fact_daily_company_activity_base (
            activity_date, company_id,
            daily_active_users, daily_events_count, [7d_rolling_active_users],
            days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id
        )
        SELECT
            r.activity_date, r.company_id,
            r.daily_active_users, r.daily_events_count, r.rolling_active_users,
            r.days_since_last_contact, r.is_churn_risk, r.churn_risk_reason, @started_at, @run_id
        FROM #result AS r
        -- Only rows of @run_date can be new: every other row in #result was read from the table.
        WHERE
            r.activity_date = @run_date
            AND NOT EXISTS (
                SELECT 1
                FROM dbo.fact_daily_company_activity_base AS f
                WHERE f.activity_date = @run_date AND f.company_id = r.company_id
            );
        SET @rows_inserted = @@ROWCOUNT;

        -- Rule 6, the other rows of the touched companies: their daily values, divisor and contact dates
        -- are unchanged, so only rule 5 can differ (when this run's thresholds differ
        -- from those of the run that last wrote them). Rows of #result are consistent by now.
        -- Every stored flag was computed by a succeeded run (failed runs roll back): when all of them
        -- used this run's thresholds, no flag can differ and the re-check (on DuckDB a scan of the
        -- whole table) is skipped. NULL thresholds (logged before migration 0006) force it, and so
        -- does a log without any succeeded run.
        IF EXISTS (
            SELECT 1
            FROM etl.load_log AS l
            WHERE
                l.status = 'succeeded'
                AND (
                    l.low_activity_threshold IS NULL
                    OR l.stale_contact_days IS NULL
                    OR l.low_activity_threshold <> @low_activity_threshold
                    OR l.stale_contact_days <> @stale_contact_days
                )
        )
        OR NOT EXISTS (SELECT 1 FROM etl.load_log AS l WHERE l.status = 'succeeded')
        BEGIN
            UPDATE f
            SET
                is_churn_risk = CAST(CASE
                    WHEN f.[7d_rolling_active_users] < @low_activity_threshold
                        OR f.days_since_last_contact > @stale_contact_days
                        OR f.days_since_last_contact IS NULL
                        THEN 1
                    ELSE 0
                END AS BIT),
                churn_risk_reason = NULLIF(CONCAT_WS(
                    ',',
                    CASE WHEN f.[7d_rolling_active_users] < @low_activity_threshold THEN 'low_activity' END,
                    CASE WHEN f.days_since_last_contact > @stale_contact_days THEN 'stale_contact' END,
                    CASE WHEN f.days_since_last_contact IS NULL THEN 'no_contact' END
                ), ''),
                loaded_at = @started_at,
                load_run_id = @run_id
            FROM dbo.fact_daily_company_activity_base AS f
            INNER JOIN #touched AS t ON t.company_id = f.company_id
            WHERE
                f.is_churn_risk <> CAST(CASE
                    WHEN f.[7d_rolling_active_users] < @low_activity_threshold
                        OR f.days_since_last_contact > @stale_contact_days
                        OR f.days_since_last_contact IS NULL
                        THEN 1
                    ELSE 0
                END AS BIT)
                -- The reason as the SET above builds it, spelled out with constants: this test reads every
                -- row of the touched companies, and building a string per row costs DuckDB 3x the scan.
                OR f.churn_risk_reason IS DISTINCT FROM CASE
                    WHEN f.[7d_rolling_active_users] < @low_activity_threshold THEN CASE
                        WHEN f.days_since_last_contact > @stale_contact_days THEN 'low_activity,stale_contact'
                        WHEN f.days_since_last_contact IS NULL THEN 'low_activity,no_contact'
                        ELSE 'low_activity'
                    END
                    WHEN f.days_since_last_contact > @stale_contact_days THEN 'stale_contact'
                    WHEN f.days_since_last_contact IS NULL THEN 'no_contact'
                END;
            SET @rows_rechecked = @@ROWCOUNT;
            SET @rows_updated = @rows_updated + @rows_rechecked;
            SET @run_message = CONCAT(N'flags re-checked: ', @rows_rechecked, N' rows changed');
        END
        ELSE
            SET @run_message = N'flag re-check skipped';
        SELECT @backlog_companies = COUNT(*) FROM etl.fact_history_backlog;
        IF @backlog_companies > 0
            SET @run_message = CONCAT(
                @run_message, N'; history backlog: ', @backlog_companies, N' companies (',
                @companies_deferred, N' deferred by this run)'
            );

        -- Staging retention: staged days older than @staging_retention_days before @run_date go, oldest
        -- first and at most 7 days a run (bounded work even when the rule first meets a long history).
        -- A day staged in the last 24 hours stays whatever its date: a backfill may have copied it and be
        -- about to merge it. rpt.data_freshness reads the newest staged days, which stay.
        SET @purge_before = DATEADD(DAY, -@staging_retention_days, @run_date);
        SELECT @oldest_staged = MIN(usage_date) FROM stg.product_usage_daily;
        IF @oldest_staged < @purge_before
            DELETE FROM stg.product_usage_daily
            WHERE
                usage_date < @purge_before
                AND usage_date < DATEADD(DAY, 7, @oldest_staged)
                AND (staged_at IS NULL OR staged_at < DATEADD(HOUR, -24, @started_at));
        SET @oldest_staged = NULL;
        SELECT @oldest_staged = MIN(snapshot_date) FROM stg.crm_company;
        IF @oldest_staged < @purge_before
            DELETE FROM stg.crm_company
            WHERE
                snapshot_date < @purge_before
                AND snapshot_date < DATEADD(DAY, 7, @oldest_staged)
                AND (staged_at IS NULL OR staged_at < DATEADD(HOUR, -24, @started_at));

        INSERT INTO etl.load_log (
            run_id, run_date, status, rows_inserted, rows_updated, rows_deleted,
            message, started_at, finished_at, low_activity_threshold, stale_contact_days
        )
        VALUES (
            @run_id, @run_date, 'succeeded', @rows_inserted, @rows_updated, @rows_deleted,
            @run_message, @started_at, SYSUTCDATETIME(), @low_activity_threshold, @stale_contact_days
        );

        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0
            ROLLBACK TRANSACTION;
        SET @error_message = LEFT(ERROR_MESSAGE(), 4000);
        INSERT INTO etl.load_log (
            run_id, run_date, status, rows_inserted, rows_updated, rows_deleted,
            message, started_at, finished_at, low_activity_threshold, stale_contact_days
        )
        VALUES (
            @run_id, @run_date, 'failed', 0, 0, 0,
            @error_message, @started_at, SYSUTCDATETIME(), @low_activity_threshold, @stale_contact_days
        );
        THROW;
    END CATCH;
END;
