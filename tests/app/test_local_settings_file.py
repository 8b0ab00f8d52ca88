"""One rule for every CLI setting: environment variable > local.settings.json Values > default.

The middle step copies Functions Core Tools (`func start` skips a Values entry whose variable is already set
and non-empty), so the CLI and a local Functions host read the same settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from company_activity.settings import IngestSettings, SettingsError, apply_local_settings
from company_activity_local.cli import main


def write_settings(tmp_path: Path, values: object) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def test_the_file_fills_only_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    path = write_settings(tmp_path, {"USAGE_API_BASE_URL": "https://file:1", "USAGE_API_KEY": "from-file",
                                     "REJECT_THRESHOLD": "0.2",
                                     "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"})
    env = {"USAGE_API_BASE_URL": "https://env:2", "REJECT_THRESHOLD": "  "}
    taken = apply_local_settings(env, path)
    assert sorted(taken) == ["REJECT_THRESHOLD", "STORAGE_CONNECTION_STRING", "USAGE_API_KEY"]
    settings = IngestSettings.from_env(env)
    assert settings.api.base_url == "https://env:2"  # the environment wins
    assert settings.api.key.reveal() == "from-file"  # the file fills the gap
    assert settings.reject_threshold == 0.2  # an empty variable counts as unset, as in Core Tools
    assert settings.api.page_size == 1000  # neither: the default


def test_a_missing_file_changes_nothing(tmp_path: Path) -> None:
    env = {"A": "1"}
    assert apply_local_settings(env, tmp_path / "absent.json") == []
    assert env == {"A": "1"}


@pytest.mark.parametrize(("content", "named"), [
    ("{not json", "local.settings.json"),
    (json.dumps({"Values": ["USAGE_API_KEY"]}), "local.settings.json"),
    (json.dumps({"Values": {"USAGE_API_PAGE_SIZE": 10}}), "USAGE_API_PAGE_SIZE"),
])
def test_a_broken_file_is_an_error_naming_it_without_echoing_values(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(content)
    with pytest.raises(SettingsError, match=named) as caught:
        apply_local_settings({}, path)
    assert "10" not in str(caught.value).replace(str(tmp_path), "")


def test_the_cli_reads_the_functions_app_local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`sql deploy` finds WAREHOUSE_PATH in local.settings.json when the environment does not set it."""
    import company_activity.settings as settings_module

    warehouse = tmp_path / "from-file.duckdb"
    path = write_settings(tmp_path, {"WAREHOUSE_PATH": str(warehouse)})
    monkeypatch.setattr(settings_module, "LOCAL_SETTINGS_FILE", path)
    # Empty counts as unset (the file fills it); setenv, unlike delenv of an absent variable, is undone.
    monkeypatch.setenv("WAREHOUSE_PATH", "")
    monkeypatch.setenv("WAREHOUSE_CONNECTION_STRING", "")
    assert main(["sql", "deploy"]) == 0
    assert warehouse.exists()
    assert f"{warehouse}: " in capsys.readouterr().out
