"""The CLI imports only the module of the command it runs, and `COMMANDS` says truly which module that is."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from company_activity_local.cli import COMMANDS, MODULES, build_parser, command_of


@pytest.mark.parametrize("module", MODULES)
def test_commands_names_exactly_what_each_module_registers(module: str) -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"company_activity_local.cli.{module}").register(sub)
    assert set(sub.choices) == {command for command, owner in COMMANDS.items() if owner == module}


def test_the_full_parser_has_every_command_and_one_command_parser_has_only_its_module() -> None:
    def commands(parser: argparse.ArgumentParser) -> set[str]:
        (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(sub.choices)

    assert commands(build_parser()) == set(COMMANDS)
    assert commands(build_parser("backfill")) == {"ingest", "backfill", "ingestions"}


@pytest.mark.parametrize(("argv", "command"), [
    (["ingest", "--date", "2026-03-01"], "ingest"),
    (["-v", "sql", "deploy"], "sql"),
    (["--verbose", "show", "fact"], "show"),
    (["--help"], None),
    (["-h", "ingest"], None),  # the top-level help lists every command
    (["ingest", "--help"], "ingest"),
    (["no-such-command"], None),  # argparse's "invalid choice" then lists every command
    ([], None),
])
def test_command_of(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


def test_a_command_that_needs_no_storage_or_warehouse_does_not_import_them() -> None:
    probe = ("import sys\n"
             "from company_activity_local.cli import build_parser\n"
             "build_parser('services').parse_args(['services', 'status'])\n"
             "print(sorted(m for m in ('duckdb', 'sqlglot', 'azure.storage.blob') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
