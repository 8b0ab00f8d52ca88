"""The settings tables of README.md and docs/local.md and function_app/local.settings.json.example are
generated from the settings declarations, and a change to either side without the other fails here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from company_activity.settings import SETTINGS, AppSettings
from company_activity_local.settings import LOCAL_SETTINGS
from company_activity_local.settings_docs import ROOT, drifted, targets


def test_the_generated_files_match_the_declarations() -> None:
    assert drifted() == [], "run `make settings-docs` and commit the result"


def test_an_edited_table_is_found(tmp_path: Path) -> None:
    for target in targets():
        copy = tmp_path / target.path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(target.path, copy)
    readme = tmp_path / "README.md"
    row = "| `BRONZE_CONTAINER` | `bronze` |"
    readme.write_text(readme.read_text().replace(row, row.replace("bronze", "silver")))
    assert drifted(tmp_path) == [readme]


def _rows(text: str) -> dict[str, str]:
    return {name: shown.strip() for name, shown in re.findall(r"^\| `([A-Za-z_]+)` \| ([^|]+) \|", text, re.MULTILINE)}


def test_each_table_shows_every_setting_with_its_default() -> None:
    for path, declared in ((ROOT / "README.md", SETTINGS), (ROOT / "docs" / "local.md", LOCAL_SETTINGS)):
        rows = _rows(path.read_text())
        for spec in declared:
            shown = {None: "(required)", "": "(empty)"}
            expected = shown.get(spec.default, f"`{spec.default}`")
            assert rows.get(spec.name) == expected, (path.name, spec.name)


def test_the_example_local_settings_are_a_valid_configuration() -> None:
    values = json.loads((ROOT / "function_app" / "local.settings.json.example").read_text())["Values"]
    assert {s.name for s in SETTINGS} <= set(values)
    settings = AppSettings.from_env(values)
    assert settings.ingest.api.base_url == "http://127.0.0.1:8080" and settings.ingest.storage.connection_string
