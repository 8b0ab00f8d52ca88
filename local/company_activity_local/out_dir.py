"""The local output folder: where every local command keeps its state and writes its files by default.

One setting, LOCAL_OUT_DIR (default `out`, the demo's folder), names the folder; everything a local
workflow leaves on disk lies under it, so two workflows with two folders never touch each other's data:

| what                                      | where                          | overridden by              |
|-------------------------------------------|--------------------------------|----------------------------|
| the warehouse (DuckDB)                    | `<out>/warehouse.duckdb`       | WAREHOUSE_PATH, --warehouse|
| `services up`: pids, logs, Azurite's data | `<out>/services/`              | --dir                      |
| `crm generate` / `crm download`           | `<out>/crm/companies/...`      | --out / --dest             |
| `bronze download`                         | `<out>/bronze/product_usage/...`| --dest                    |
| `dashboard`, the demo's dashboard         | `<out>/dashboard.html`         | -o                         |
| `demo`                                    | `<out>/`                       | --out                      |

The documented workflows each export their own (docs/local.md, "Each workflow has its own folder").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

OUT_DIR_ENV = "LOCAL_OUT_DIR"
DEFAULT_OUT_DIR = "out"
WAREHOUSE_FILE = "warehouse.duckdb"


def out_dir(env: Mapping[str, str] | None = None) -> Path:
    """LOCAL_OUT_DIR when set and not blank, else `out`."""
    env = os.environ if env is None else env
    return Path(env.get(OUT_DIR_ENV, "").strip() or DEFAULT_OUT_DIR)


def default_warehouse(env: Mapping[str, str] | None = None) -> Path:
    return out_dir(env) / WAREHOUSE_FILE


def services_dir(env: Mapping[str, str] | None = None) -> Path:
    return out_dir(env) / "services"


def crm_dir(env: Mapping[str, str] | None = None) -> Path:
    return out_dir(env) / "crm"


def bronze_dir(env: Mapping[str, str] | None = None) -> Path:
    return out_dir(env) / "bronze"


def dashboard_file(env: Mapping[str, str] | None = None) -> Path:
    return out_dir(env) / "dashboard.html"
