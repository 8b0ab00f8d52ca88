"""The local executor's run history: the stand-in for Data Factory's pipeline-run history.

One JSON-lines file next to the DuckDB warehouse (`out/warehouse.duckdb` -> `out/warehouse.runs.jsonl`).
The executor appends a line when a run starts (status InProgress) and another when it ends (Succeeded or
Failed, with its message), each line a PipelineRun in Data Factory's field names
(company_activity.dashboard.runs owns the shape). The last line of a run id is its state, so a run that
crashed the process stays InProgress, as it would in Data Factory's history. `company-activity dashboard`
reads the file to show every run, also those that failed before the merge procedure wrote etl.load_log.

Written by hand rather than with a logging library: each record is one `write` of one line to a file
opened in append mode, which is all the concurrency this needs (one executor per warehouse file).
"""

from __future__ import annotations

import json
from pathlib import Path

from company_activity.dashboard.runs import PipelineRunRecord, RunRecordError
from company_activity_local.settings import WarehouseSettings

SUFFIX = ".runs.jsonl"


def path_for_warehouse(warehouse_path: str | Path) -> Path:
    """The run-record file of a DuckDB warehouse file."""
    path = Path(warehouse_path)
    return path.with_name(path.stem + SUFFIX)


class RunRecordFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_warehouse(cls, warehouse_path: str | Path | None) -> RunRecordFile | None:
        """The file next to a DuckDB warehouse; None for a SQL Server warehouse (no local file to sit beside)."""
        return None if warehouse_path is None else cls(path_for_warehouse(warehouse_path))

    @classmethod
    def for_settings(cls, warehouse: WarehouseSettings) -> RunRecordFile | None:
        """The file of the warehouse a command uses: beside its DuckDB file, none for SQL Server."""
        return None if warehouse.connection_string is not None else cls.for_warehouse(warehouse.duckdb_path)

    def record(self, run: PipelineRunRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(run.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)

    def read(self) -> list[PipelineRunRecord]:
        """Every record in file order (a missing file is an empty history). A malformed line names its number."""
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(PipelineRunRecord.from_json(json.loads(line)))
            except (ValueError, RunRecordError) as exc:
                raise RunRecordError(f"{self.path}:{number}: not a pipeline run record: {exc}") from None
        return records

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
