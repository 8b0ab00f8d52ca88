"""README and local.settings.json.example document exactly the settings the code reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

from company_activity.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", readme, flags=re.MULTILINE))
    assert set(rows) == {s.name for s in SETTINGS}
    for spec in SETTINGS:
        shown = rows[spec.name].strip()
        if spec.default is None:
            assert shown == "(required)", spec.name
        elif spec.default == "":
            assert shown == "(empty)", spec.name
        else:
            assert shown == f"`{spec.default}`", spec.name


def test_local_settings_example_sets_every_setting() -> None:
    example = json.loads((ROOT / "function_app" / "local.settings.json.example").read_text())["Values"]
    for spec in SETTINGS:
        assert spec.name in example, spec.name
        if spec.default:
            assert example[spec.name] == spec.default, spec.name
