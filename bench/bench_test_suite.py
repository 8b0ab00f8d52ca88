"""Where the test suite's time goes: `make test`'s pytest line, with each test's CPU and wall time recorded.

Runs `pytest -n 2 --dist loadgroup` (as `make test` does) with this file loaded as a pytest plugin in every
worker: around each test (setup, call and teardown) it records the worker's CPU time, the CPU time of the
children it reaped (subprocesses: the CLI, bash, checkov; not Azurite or chromium started in the background,
whose CPU no test process reaps) and the wall time. Then it prints the run's wall and CPU time, each worker's
summed wall time (the two should end together), and the modules that cost the most.

    .venv/bin/python bench/bench_test_suite.py                  # the whole suite
    .venv/bin/python bench/bench_test_suite.py tests/infra      # a part of it (pytest arguments)
    .venv/bin/python bench/bench_test_suite.py --top 40

docs/benchmarks.md ("The test suite") records the figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDS = "BENCH_TEST_SUITE_RECORDS"  # the folder each worker writes its records to


def _cpu() -> tuple[float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, None]:
    own, children = _cpu()
    started = time.perf_counter()
    yield
    own_after, children_after = _cpu()
    record = [item.nodeid, own_after - own, children_after - children, time.perf_counter() - started]
    with open(Path(os.environ[RECORDS]) / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def report(folder: Path, top: int) -> None:
    by_module: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for worker in sorted(folder.glob("*.jsonl")):
        records = [json.loads(line) for line in worker.read_text(encoding="utf-8").splitlines()]
        print(f"worker {worker.stem}: {len(records)} tests, {sum(r[3] for r in records):.0f} s of wall time, "
              f"{sum(r[1] + r[2] for r in records):.0f} s of CPU")
        for node, own, children, wall in records:
            totals = by_module[node.split("::")[0]]
            totals[0] += own
            totals[1] += children
            totals[2] += wall
            totals[3] += 1
    print(f"\n{'wall s':>7} {'CPU s':>7} {'of it children':>14} {'tests':>5}  module")
    for module, (own, children, wall, count) in sorted(by_module.items(), key=lambda m: -m[1][2])[:top]:
        print(f"{wall:7.1f} {own + children:7.1f} {children:14.1f} {count:5d}  {module}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25, help="modules to list (by summed wall time)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (default: the whole suite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-test-suite-") as folder:
        env = {**os.environ, RECORDS: folder, "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"),
                                                                             os.environ.get("PYTHONPATH", "")])}
        started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q",
                               "-p", "bench_test_suite", *args.pytest_args], cwd=ROOT, env=env, check=False,
                              stdout=subprocess.PIPE, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(pytest printed nothing)")
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        print(f"pytest -n 2: {time.perf_counter() - started:.0f} s of wall time, {cpu:.0f} s of CPU "
              f"(load average {os.getloadavg()[0]:.1f} at the end)\n")
        report(Path(folder), args.top)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
