"""The Functions app as the Python worker sees it, and the deployment files next to it.

The worker starts a fresh interpreter with the app root on sys.path, imports `function_app` by file name and
indexes `app.get_functions()` once. The subprocess below does exactly that, with the packages .funcignore
under ../local/ (and duckdb/sqlglot/rich, which requirements.txt does not install) made unimportable, and
compares the modules it loaded with the Python files under function_app/: the folder holds exactly what
the deployed app imports.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from company_activity.settings import SETTING_NAMES

pytestmark = pytest.mark.cli

REPO = Path(__file__).resolve().parents[3]
APP_ROOT = REPO / "function_app"
LEFT_OUT = ("company_activity_local", "duckdb", "sqlglot", "rich", "pyodbc")

WORKER_VIEW = r"""
import importlib, json, sys, typing

app_root, blocked = sys.argv[1], tuple(sys.argv[2].split(","))


class LeftOutOfTheDeployment:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            raise ImportError(f"{name} is not deployed with the Functions app")
        return None


sys.meta_path.insert(0, LeftOutOfTheDeployment())
sys.path.insert(0, app_root)
module = importlib.import_module("function_app")
functions = module.app.get_functions()  # once, as the worker does

from azure.functions import meta

registry = meta.get_binding_registry()
out = []
for f in functions:
    hints = typing.get_type_hints(f.get_user_function())
    annotations_ok = {}
    for binding in f.get_bindings():
        b = binding.get_dict_repr()
        converter = registry.get(b["type"])
        direction = str(b["direction"]).rsplit(".", 1)[-1].upper()
        if b["name"] == "$return":
            annotations_ok[b["name"]] = converter.check_output_type_annotation(hints["return"])
        elif direction == "IN":
            annotations_ok[b["name"]] = converter.check_input_type_annotation(hints[b["name"]])
        else:
            inner = typing.get_args(hints[b["name"]])[0]
            annotations_ok[b["name"]] = converter.check_output_type_annotation(inner)
    out.append({
        "name": f.get_function_name(),
        "trigger": f.get_trigger().get_dict_repr(),
        "bindings": [b.get_dict_repr() for b in f.get_bindings()],
        "retry": f.get_settings_dict("retry_policy"),
        "annotations_ok": annotations_ok,
    })
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("duckdb", "sqlglot", "mssql_python"))
package = sys.modules["company_activity"].__file__
loaded = sorted(m.__file__ for name, m in list(sys.modules.items())
                if name.split(".")[0] == "company_activity" and getattr(m, "__file__", None))
print(json.dumps({"functions": out, "heavy_modules": heavy, "package": package, "loaded": loaded}, default=str))
"""


@pytest.fixture(scope="module")
def worker_view() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_VIEW, str(APP_ROOT), ",".join(LEFT_OUT)],
        cwd=APP_ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin"},  # no app settings: indexing must not need them
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def by_name(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in view["functions"]}


def lower(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v).rsplit(".", 1)[-1].upper() if k in ("direction", "authLevel") else v) for k, v in d.items()}


def test_the_worker_indexes_six_functions_without_local_only_packages(worker_view: dict[str, Any]) -> None:
    assert sorted(by_name(worker_view)) == ["backfill", "backfill_status", "backfill_worker", "daily_ingest",
                                            "dashboard", "ingestions"]
    assert worker_view["heavy_modules"] == []  # the SQL driver too is imported by the first dashboard request
    assert Path(worker_view["package"]).resolve().is_relative_to(APP_ROOT)


def test_every_parameter_annotation_is_accepted_by_its_binding_converter(worker_view: dict[str, Any]) -> None:
    for function in worker_view["functions"]:
        assert function["annotations_ok"] and all(function["annotations_ok"].values()), function


def test_timer_binding(worker_view: dict[str, Any]) -> None:
    timer = by_name(worker_view)["daily_ingest"]
    trigger = lower(timer["trigger"])
    assert trigger["type"] == "timerTrigger" and trigger["direction"] == "IN"
    assert trigger["schedule"] == "%INGEST_SCHEDULE%"
    assert trigger["useMonitor"] is True
    assert trigger.get("runOnStartup") in (None, False)
    assert timer["retry"]["strategy"] == "fixed_delay" and int(timer["retry"]["max_retry_count"]) >= 1


@pytest.mark.parametrize(("name", "route", "method"), [("backfill", "backfill", "POST"),
                                                       ("ingestions", "ingestions", "GET"),
                                                       ("backfill_status", "backfill/{run_id}", "GET")])
def test_http_bindings(worker_view: dict[str, Any], name: str, route: str, method: str) -> None:
    function = by_name(worker_view)[name]
    trigger = lower(function["trigger"])
    assert trigger["type"] == "httpTrigger" and trigger["route"] == route
    assert [str(m).rsplit(".", 1)[-1].upper() for m in trigger["methods"]] == [method]
    assert trigger["authLevel"] == "ANONYMOUS"  # the handler verifies an Entra token (caller.py), no key
    assert any(b["type"] == "http" and b["name"] == "$return" for b in function["bindings"])


def test_the_dashboard_route_needs_no_function_key(worker_view: dict[str, Any]) -> None:
    """GET /api/dashboard is opened in a browser: App Service authentication (Entra ID) guards it, not a key in
    the URL; the function refuses a request without the principal the platform sets (test_dashboard_view.py)."""
    trigger = lower(by_name(worker_view)["dashboard"]["trigger"])
    assert trigger["type"] == "httpTrigger" and trigger["route"] == "dashboard"
    assert [str(m).rsplit(".", 1)[-1].upper() for m in trigger["methods"]] == ["GET"]
    assert trigger["authLevel"] == "ANONYMOUS"


def test_queue_bindings(worker_view: dict[str, Any]) -> None:
    functions = by_name(worker_view)
    output = [lower(b) for b in functions["backfill"]["bindings"] if b["type"] == "queue"]
    assert output == [{"direction": "OUT", "type": "queue", "name": "messages", "queueName": "%BACKFILL_QUEUE%",
                       "connection": "AzureWebJobsStorage"}]
    trigger = lower(functions["backfill_worker"]["trigger"])
    assert trigger == {"direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "%BACKFILL_QUEUE%",
                       "connection": "AzureWebJobsStorage"}


# --------------------------------------------------------------------------------- deployment files


def test_host_json_keeps_queue_ingestion_one_at_a_time_with_a_poison_limit() -> None:
    host = json.loads((APP_ROOT / "host.json").read_text())
    assert host["version"] == "2.0" and host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    queues = host["extensions"]["queues"]
    assert queues["batchSize"] == 1 and queues["newBatchThreshold"] == 0
    assert 1 <= queues["maxDequeueCount"] <= 10
    assert re.fullmatch(r"\d\d:\d\d:\d\d", queues["visibilityTimeout"])
    assert queues["messageEncoding"] == "base64"
    # Flex Consumption allows more (30 min by default, no maximum); ten minutes bounds a hung ingestion, and a
    # 1M-record day takes well under one. HTTP answers are capped at 230 s whatever this says.
    assert host["functionTimeout"] <= "00:10:00"


def _pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[\w,]+\])?==([^\s;\\]+)", line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(3)
    return found


def test_requirements_are_the_runtime_pins_of_pyproject_every_file_hashed() -> None:
    """requirements.in lists the worker's direct dependencies at pyproject's versions; requirements.txt pins
    them and everything they pull in with hashes (issue 22, finding 6: the build installs nothing unpinned)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins(project["dependencies"])
    wanted = {"azure-functions", "azure-storage-blob", "azure-identity", "azure-core", "requests", "tenacity",
              "msgspec", "pyjwt", "mssql-python"}
    direct = _pins((APP_ROOT / "requirements.in").read_text().splitlines())
    assert set(direct) == wanted and all(direct[name] == pins[name] for name in wanted)
    text = (APP_ROOT / "requirements.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text[text.index("\n", text.index("requirements.in")) + 1:])
    compiled = _pins(entries)
    assert all(compiled[name] == direct[name] for name in wanted)
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry.splitlines()[0]


def test_the_app_folder_holds_exactly_the_modules_the_worker_imports(worker_view: dict[str, Any]) -> None:
    on_disk = {p.resolve() for p in APP_ROOT.rglob("*.py") if "__pycache__" not in p.parts}
    loaded = {Path(f).resolve() for f in worker_view["loaded"]} | {(APP_ROOT / "function_app.py").resolve()}
    assert sorted(map(str, on_disk - loaded)) == [], "files under function_app/ that the deployed app never imports"
    assert sorted(map(str, loaded - on_disk)) == [], "modules the app imports from outside function_app/"


def test_funcignore_leaves_out_only_leftovers_not_packages() -> None:
    ignored = [line.strip() for line in (APP_ROOT / ".funcignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert "local.settings.json" in ignored
    assert not [entry for entry in ignored if entry.startswith("company_activity")
                and not entry.endswith(".egg-info")], "the deploy zip is what the folder shows"


def test_local_settings_example_lists_every_setting_in_order() -> None:
    values = json.loads((APP_ROOT / "local.settings.json.example").read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python" and "AzureWebJobsStorage" in values
    assert [k for k in values if k in SETTING_NAMES] == list(SETTING_NAMES)
    assert values["INGEST_SCHEDULE"] and values["BACKFILL_QUEUE"]  # binding expressions need them as app settings
