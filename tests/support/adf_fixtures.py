"""Fixtures of the ADF tests: a scratch copy of the shipped adf/ directory to break on purpose."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from company_activity_local.pipeline.resources import ADF_DIR

Editor = Callable[[str, str, Callable[[dict], Any]], Path]


@pytest.fixture()
def adf_copy(tmp_path: Path) -> Path:
    target = tmp_path / "adf"
    shutil.copytree(ADF_DIR, target)
    return target


@pytest.fixture()
def edit(adf_copy: Path) -> Editor:
    """edit(folder, resource name, change) rewrites adf_copy/<folder>/<name>.json after change(json)."""

    def apply(folder: str, name: str, change: Callable[[dict], Any]) -> Path:
        path = adf_copy / folder / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data, indent=4), encoding="utf-8")
        return path

    return apply
