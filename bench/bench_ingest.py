"""Ingestion benchmark: `company-activity ingest` vs the raw read speed of the same API, side by side.

For each day size, one simulator process (`company-activity simulate-api`) serves the day and one Azurite
process stores it. Per size we measure
  raw read  - UsageApiClient.iter_pages over the day in this process: fetch + parse + discard;
  ingest    - `company-activity ingest --date D` as a child process: records/s from its own timer and from
              the wall clock (interpreter start included), and its peak RSS from os.wait4 (exact, per child);
  dedupe    - what duplicate detection (DayRecordValidator's seen_ids.SeenIds, the only state that could grow
              with the day) costs: peak RSS and time of the same `ingest` with the duplicate check switched
              off (patched in the child), interleaved with the normal runs, best of the same number.
Targets: ingest within 1.5x of raw read time; peak RSS under 120 MB and growing at most 10% from the
smallest to the largest size.

    .venv/bin/python bench/bench_ingest.py                      # 100k and 1M records
    .venv/bin/python bench/bench_ingest.py --sizes 20000 --repeat 1
    .venv/bin/python bench/bench_ingest.py --validator-cpu 1000000   # only the validator's CPU per record
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from company_activity.ingest.bronze import encode_lines
from company_activity.ingest.usage_api import DayRecordValidator, UsageApiClient
from company_activity.settings import Secret
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.processes import Process, free_port
from company_activity_local.services.simulator import DEFAULT_API_KEY
from company_activity_local.services.usage_data import ABSENT_SHARE, expected_day

DAY = datetime.date(2026, 3, 14)
BIN = Path(sys.executable).parent
CLI = str(BIN / "company-activity")
SUMMARY = re.compile(r"run (\S+): (\d+) records, (\d+) rejected, (\d+) pages, (\d+) bytes in ([\d.]+)s: committed")


@dataclass
class Row:
    target: int
    records: int
    raw_s: float
    ingest_s: float  # the runner's own timer
    ingest_wall_s: float  # child process start to exit
    peak_rss_mb: float
    no_dedupe_rss_mb: float
    no_dedupe_s: float  # the runner's own timer, duplicate check off
    stored_mb: float

    @property
    def ratio(self) -> float:
        return self.ingest_s / self.raw_s


def raw_read(base_url: str, page_size: int) -> tuple[int, float]:
    with UsageApiClient(base_url, Secret(DEFAULT_API_KEY), page_size=page_size) as client:
        started = time.perf_counter()
        records = sum(len(page.records) for page in client.iter_pages(DAY))
        return records, time.perf_counter() - started


# Diagnostic only: the same CLI run with a validator that keeps no state, to isolate its memory.
NO_DEDUPE = (
    "import sys\n"
    "import company_activity.ingest.runner as runner\n"
    "from company_activity.ingest.seen_ids import SeenIds\n"
    "class Stateless(runner.DayRecordValidator):\n"
    "    def __init__(self, day):\n"
    "        super().__init__(day, SeenIds(bloom_bits=64))  # a filter of 8 bytes, never used\n"
    "    def check(self, record, page):\n"
    "        return self._reason(record)  # every check but the duplicate bookkeeping\n"
    "runner.DayRecordValidator = Stateless\n"
    "from company_activity_local.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def ingest(base_url: str, connection_string: str, container: str, page_size: int,
           no_dedupe: bool = False) -> tuple[str, float, float]:
    env = {
        **os.environ,
        "USAGE_API_BASE_URL": base_url,
        "USAGE_API_KEY": DEFAULT_API_KEY,
        "USAGE_API_PAGE_SIZE": str(page_size),
        "STORAGE_CONNECTION_STRING": connection_string,
        "STORAGE_ACCOUNT_URL": "",
        "BRONZE_CONTAINER": container,
    }
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        started = time.perf_counter()
        command = [sys.executable, "-c", NO_DEDUPE] if no_dedupe else [CLI]
        child = subprocess.Popen([*command, "ingest", "--date", DAY.isoformat()], env=env, stdout=out_file,
                                 stderr=err_file, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # reaps the child and returns its own rusage
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if child.returncode != 0 or SUMMARY.search(out) is None:
        raise SystemExit(f"ingest failed (exit {child.returncode}):\n{out}\n{err[-3000:]}")
    return out, wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def measure(target: int, azurite: Azurite, page_size: int, repeat: int) -> Row:
    companies = math.ceil(target / (1 - ABSENT_SHARE))
    port = free_port()
    simulator = Process("simulate-api", [CLI, "simulate-api", "--port", str(port), "--companies", str(companies),
                                         "--seed", "1"], ports=[port])
    simulator.start(timeout_s=60)
    try:
        base_url = f"http://127.0.0.1:{port}"
        raws, runs, off_runs = [], [], []
        for i in range(repeat):
            raws.append(raw_read(base_url, page_size))
            runs.append(ingest(base_url, azurite.connection_string, f"bench-{target}-{i}", page_size))
            off_runs.append(ingest(base_url, azurite.connection_string, f"bench-{target}-nodedupe-{i}", page_size,
                                   no_dedupe=True))
    finally:
        simulator.stop()
    records, raw_s = min(raws, key=lambda r: r[1])
    best = min(runs, key=lambda r: float(SUMMARY.search(r[0])[6]))  # type: ignore[index]
    no_dedupe = min(off_runs, key=lambda r: float(SUMMARY.search(r[0])[6]))  # type: ignore[index]
    match = SUMMARY.search(best[0])
    assert match is not None
    if int(match[2]) != records:
        raise SystemExit(f"ingested {match[2]} records but the raw read saw {records}")
    return Row(target, records, raw_s, float(match[6]), best[1], max(r[2] for r in runs), max(r[2] for r in off_runs),
               float(SUMMARY.search(no_dedupe[0])[6]), int(match[5]) / 1024 / 1024)  # type: ignore[index]


def validator_cpu(records: int, repeat: int = 5) -> None:
    """CPU per record (best of `repeat`) of parsing pages, of the checks without duplicate detection, and of
    the whole validator, on one process with pre-built pages: the validator's cost without I/O around it."""
    companies = math.ceil(records / (1 - ABSENT_SHARE))
    day = list(expected_day(DAY, companies, 1))
    pages = [json.dumps({"data": day[i:i + 1000]}).encode() for i in range(0, len(day), 1000)]
    count = len(day)
    del day

    class NoDuplicateCheck(DayRecordValidator):
        def check(self, record: object, page: int) -> str | None:
            return self._reason(record)

    def run(make: type[DayRecordValidator] | None) -> float:
        validator = make(DAY) if make is not None else None
        started = time.process_time()
        for number, body in enumerate(pages):
            for record in json.loads(body)["data"]:
                if validator is not None:
                    validator.check(record, number)
        took = time.process_time() - started
        if validator is not None:
            validator.close()
        return took

    kinds = {"parse only": None, "checks, duplicate check off": NoDuplicateCheck, "whole validator": DayRecordValidator}
    best = {name: min(run(make) for _ in range(repeat)) for name, make in kinds.items()}
    best["duplicate detection"] = best["whole validator"] - best["checks, duplicate check off"] + best["parse only"]
    print(f"{count:,} records, CPU per record beyond parsing the pages (best of {repeat}):")
    for name in list(best)[1:]:
        print(f"  {name}: {(best[name] - best['parse only']) / count * 1e9:,.0f} ns")


def encoder_cpu(records: int, repeat: int = 5) -> None:
    """CPU per record (best of `repeat`) of writing pages of records as bronze JSON Lines: bronze.encode_lines,
    and json.dumps per record (compact, UTF-8 kept) as the reference it replaced, on pre-built 1,000-record
    pages in one process."""
    companies = math.ceil(records / (1 - ABSENT_SHARE))
    day = list(expected_day(DAY, companies, 1))
    pages = [day[i:i + 1000] for i in range(0, len(day), 1000)]

    def dumps(page: list[dict[str, object]]) -> bytes:
        return "".join([json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in page]).encode()

    def run(encode: Callable[[list[dict[str, object]]], bytes]) -> float:
        started = time.process_time()
        for page in pages:
            encode(page)
        return time.process_time() - started

    print(f"{len(day):,} records in pages of 1,000, CPU per record (best of {repeat}):")
    for name, encode in (("bronze.encode_lines", encode_lines), ("json.dumps per record", dumps)):
        print(f"  {name}: {min(run(encode) for _ in range(repeat)) / len(day) * 1e9:,.0f} ns")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="records per day")
    parser.add_argument("--page-size", type=int, default=1000, help="records per API page (default 1000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the fastest is reported")
    parser.add_argument("--validator-cpu", type=int, metavar="RECORDS",
                        help="only measure the validator's CPU per record on a day of about RECORDS records")
    parser.add_argument("--encoder-cpu", type=int, metavar="RECORDS",
                        help="only measure the JSON Lines encoding CPU per record on a day of about RECORDS records")
    args = parser.parse_args()
    if args.validator_cpu:
        validator_cpu(args.validator_cpu)
        return 0
    if args.encoder_cpu:
        encoder_cpu(args.encoder_cpu)
        return 0

    with Azurite() as azurite:
        rows = [measure(size, azurite, args.page_size, args.repeat) for size in args.sizes]

    print(f"\npage size {args.page_size}, best of {args.repeat}; python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs")
    header = ("records", "raw read rec/s", "ingest rec/s", "ingest/raw time", "ingest rec/s (wall, incl. start)",
              "peak RSS MB", "peak RSS, duplicate check off MB", "duplicate detection MB",
              "ingest s, duplicate check off vs on", "stored MB")
    print(" | ".join(header))
    for r in rows:
        print(" | ".join((
            f"{r.records:,}", f"{r.records / r.raw_s:,.0f}", f"{r.records / r.ingest_s:,.0f}", f"{r.ratio:.2f}x",
            f"{r.records / r.ingest_wall_s:,.0f}", f"{r.peak_rss_mb:.0f}", f"{r.no_dedupe_rss_mb:.0f}",
            f"{r.peak_rss_mb - r.no_dedupe_rss_mb:.0f}", f"{r.no_dedupe_s:.1f} vs {r.ingest_s:.1f}",
            f"{r.stored_mb:.1f}",
        )))
    small, large = rows[0], rows[-1]
    growth = large.peak_rss_mb / small.peak_rss_mb - 1
    checks = [
        (f"ingest within 1.5x of raw read time (worst {max(r.ratio for r in rows):.2f}x)",
         all(r.ratio <= 1.5 for r in rows)),
        (f"peak RSS under 120 MB (max {max(r.peak_rss_mb for r in rows):.0f} MB)",
         all(r.peak_rss_mb < 120 for r in rows)),
        (f"peak RSS growth <= 10% from {small.records:,} to {large.records:,} records ({growth:+.0%})",
         growth <= 0.10),
    ]
    for text, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}")
    rest = large.no_dedupe_rss_mb / small.no_dedupe_rss_mb - 1
    print(f"info  diagnostic, duplicate check off: peak RSS {small.no_dedupe_rss_mb:.0f} -> "
          f"{large.no_dedupe_rss_mb:.0f} MB ({rest:+.0%}) from {small.records:,} to {large.records:,} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
