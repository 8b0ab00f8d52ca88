"""Every .bicep and .bicepparam parses (tree-sitter-bicep), in syntax checkov can read, with documented params."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.infra import checks
from tests.support.infra.bicep import PARSER, bicepparam_source, syntax_problems
from tests.support.infra.repo import ROOT


def test_templates_parse_without_errors() -> None:
    files = sorted((ROOT / "infra").rglob("*.bicep*"))
    assert {p.suffix for p in files} == {".bicep", ".bicepparam"}
    assert checks.syntax(ROOT) == []


def test_parameters_and_outputs_are_described() -> None:
    assert checks.declarations(ROOT) == []


def test_names_are_deterministic() -> None:
    assert checks.naming(ROOT) == []


def test_bicepparam_rewrite_keeps_positions() -> None:
    source = b"using './main.bicep'\nparam a = 'x'\n  param b = {\n}\n"
    rewritten = bicepparam_source(source)
    assert len(rewritten) == len(source)
    assert rewritten.splitlines()[1] == b"var   a = 'x'"
    assert PARSER.parse(rewritten).root_node.has_error is False
    # A real error in a parameter file is reported at its own line and column.
    broken = bicepparam_source(b"using './main.bicep'\nparam a = \n")
    assert syntax_problems(Path("p.bicepparam"), broken)[0].startswith("p.bicepparam:2:")


@pytest.mark.parametrize(
    ("edits", "check", "expected"),
    [
        pytest.param(
            {
                "infra/modules/storage.bicep": (
                    "    supportsHttpsTrafficOnly: true\n",
                    "    supportsHttpsTrafficOnly: \n",
                )
            },
            checks.syntax,
            "storage.bicep:",
            id="syntax-error",
        ),
        pytest.param(
            {"infra/env/dev.bicepparam": ("param environmentName = 'dev'", "param environmentName = 'dev")},
            checks.syntax,
            "dev.bicepparam:",
            id="bicepparam-syntax-error",
        ),
        pytest.param(
            {"infra/main.bicep": ("var sqlDatabaseName", "var doubled = map([1], x => x * 2)\nvar sqlDatabaseName")},
            checks.syntax,
            "lambda (lambda_expression): checkov's Bicep parser cannot read this",
            id="lambda",
        ),
        pytest.param(
            {"infra/main.bicep": ("var sqlDatabaseName", "type pair = {\n  a: string\n}\nvar sqlDatabaseName")},
            checks.syntax,
            "user-defined type",
            id="user-defined-type",
        ),
        pytest.param(
            {"infra/modules/sql.bicep": ("param tags object = {}", "param tags string[] = []")},
            checks.syntax,
            "typed array",
            id="typed-array",
        ),
        pytest.param(
            {
                "infra/main.bicep": (
                    "var sqlDatabaseName = 'company_activity'",
                    "var sqlDatabaseName = sqlAllowAzureServices\n  ? 'a'\n  : 'b'",
                )
            },
            checks.syntax,
            "multi-line ternary",
            id="multi-line-ternary",
        ),
        pytest.param(
            {"infra/modules/sql.bicep": ("'Required. Name of the logical server.'", "'Name of the server.'")},
            checks.declarations,
            "@description of parameter serverName must start with 'Required.'",
            id="description-prefix",
        ),
        pytest.param(
            {"infra/modules/sql.bicep": ("'Optional. Tags applied to every resource.'", "'Required. Tags.'")},
            checks.declarations,
            "parameter tags must start with 'Optional.'",
            id="optional-with-default",
        ),
        pytest.param(
            {"infra/modules/key-vault.bicep": ("@description('Name of the key vault.')\n", "")},
            checks.declarations,
            "output name has no @description",
            id="output-description",
        ),
        pytest.param(
            {"infra/main.bicep": ("storage: 'st${token}'", "storage: 'companydata'")},
            checks.naming,
            "name storage must be '<abbreviation>${token}'",
            id="fixed-name",
        ),
        pytest.param(
            {
                "infra/main.bicep": (
                    "uniqueString(subscription().id, environmentName, location)",
                    "uniqueString(resourceGroup().id)",
                )
            },
            checks.naming,
            "variable token must be",
            id="token",
        ),
    ],
)
def test_each_syntax_check_catches_its_mutation(
    mutated: Callable[..., Path], edits: dict[str, tuple[str, str]], check: Callable[[Path], list[str]], expected: str
) -> None:
    problems = check(mutated(edits))
    assert any(expected in p for p in problems), problems
