"""Write the settings tables of README.md and docs/local.md and function_app/local.settings.json.example
from the settings declarations, so the docs cannot drift from the code.

    python -m company_activity_local.settings_docs           # rewrite the three files (make settings-docs)
    python -m company_activity_local.settings_docs --check   # exit 1 naming each file that differs

Each table sits between two markers in its file (`<!-- settings:app -->` ... `<!-- /settings:app -->`);
the text around them is the docs' own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from company_activity.settings import SETTINGS, Setting
from company_activity_local.settings import LOCAL_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# Settings of the Functions host itself that `func start` needs locally (not read by company_activity).
HOST_VALUES = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}


def table(settings: Sequence[Setting]) -> str:
    rows = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for spec in settings:
        default = "(required)" if spec.default is None else "(empty)" if spec.default == "" else f"`{spec.default}`"
        rows.append(f"| `{spec.name}` | {default} | {spec.doc} |")
    return "\n".join(rows) + "\n"


def local_settings_example() -> str:
    values = dict(HOST_VALUES)
    for spec in SETTINGS:
        values[spec.name] = spec.example if spec.example is not None else spec.default or ""
    return json.dumps({"IsEncrypted": False, "Values": values}, indent=2) + "\n"


@dataclass(frozen=True)
class Target:
    path: Path
    render: Callable[[], str]
    marker: str | None = None  # None: the whole file is generated

    def expected(self, current: str) -> str:
        if self.marker is None:
            return self.render()
        begin, end = f"<!-- settings:{self.marker} -->\n", f"<!-- /settings:{self.marker} -->"
        head, found, rest = current.partition(begin)
        _, found_end, tail = rest.partition(end)
        if not found or not found_end:
            raise SystemExit(f"{self.path}: the markers {begin.strip()} ... {end} are missing")
        return head + begin + self.render() + end + tail


def targets(root: Path = ROOT) -> list[Target]:
    return [
        Target(root / "README.md", lambda: table(SETTINGS), "app"),
        Target(root / "docs" / "local.md", lambda: table(LOCAL_SETTINGS), "local"),
        Target(root / "function_app" / "local.settings.json.example", local_settings_example),
    ]


def drifted(root: Path = ROOT) -> list[Path]:
    """The generated files whose content differs from what the declarations give."""
    return [t.path for t in targets(root) if t.path.read_text() != t.expected(t.path.read_text())]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m company_activity_local.settings_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = drifted()
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: differs from the settings declarations (run `make settings-docs`)",
                  file=sys.stderr)
        return 1 if stale else 0
    for target in targets():
        if target.path in stale:
            target.path.write_text(target.expected(target.path.read_text()))
            print(f"wrote {target.path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
