"""What the GitHub workflow schema cannot see in .github/workflows: each function returns the problems it finds.

- Actions are pinned to a full 40-character commit SHA with the release it is in as a comment (a tag can be moved
  to other code; a commit cannot: GitHub's "Security hardening for GitHub Actions" recommends full-length SHAs).
- Every workflow sets `permissions` (least privilege), and `id-token: write`, which OpenID Connect needs, is
  granted only to the jobs that sign in with azure/login (or call a reusable workflow that does).
- No `${{ secrets.* }}` inside a `run:` script (the value would be pasted into the script text, where shell
  quoting or `set -x` can leak it): secrets reach scripts through `env:`.
- Issue 22: a job that can obtain an Azure token (`id-token: write`) runs in a GitHub environment (its federated
  subject names the environment), installs nothing unpinned (pip only by hash, no npm, no downloaded .deb), and
  receives no Key Vault secret; every container image is pinned by digest.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^\s*-?\s*uses:\s*\S+\s+#\s*v\d+\.\d+\.\d+\s*$")
SECRET_EXPRESSION = re.compile(r"\$\{\{[^}]*\bsecrets\b", re.IGNORECASE)
LOGIN_ACTION = "azure/login"


def workflows(root: Path) -> list[Path]:
    return sorted((root / ".github" / "workflows").glob("*.y*ml"))


def load(path: Path) -> dict[str, Any]:
    # ruamel reads YAML 1.2, where `on:` is the string "on" (PyYAML would make it True).
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def schema_problems(paths: list[Path]) -> list[str]:
    """check-jsonschema with the GitHub workflow schema it vendors (no network)."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, check=False, timeout=120)
    return [] if result.returncode == 0 else [result.stdout + result.stderr]


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_name, step) for job_name, job in workflow.get("jobs", {}).items() for step in job.get("steps", [])]


def pinned_actions(path: Path) -> list[str]:
    problems: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^\s*-?\s*uses:\s*(\S+)", line)
        if match is None or match.group(1).startswith("./"):
            continue
        reference = match.group(1)
        if PINNED.match(reference) is None:
            problems.append(f"{path.name}:{number}: {reference} is not pinned to a full commit SHA")
        elif VERSION_COMMENT.match(line) is None:
            problems.append(f"{path.name}:{number}: {reference} needs its release as a comment (# vX.Y.Z)")
    return problems


def consistent_pins(paths: list[Path]) -> list[str]:
    """One action, one commit, across every workflow."""
    seen: dict[str, set[str]] = {}
    for path in paths:
        for reference in re.findall(r"uses:\s*([\w.-]+/[\w./-]+@[0-9a-f]{40})", path.read_text(encoding="utf-8")):
            action, sha = reference.split("@")
            seen.setdefault(action.lower(), set()).add(sha)
    return [f"{action} is pinned to several commits: {sorted(shas)}" for action, shas in seen.items() if len(shas) > 1]


def _uses_login(job: dict[str, Any], root: Path) -> bool:
    if any(str(step.get("uses", "")).lower().startswith(f"{LOGIN_ACTION}@") for step in job.get("steps", [])):
        return True
    called = str(job.get("uses", ""))
    if called.startswith("./"):
        workflow = load(root / called)
        return any(_uses_login(j, root) for j in workflow.get("jobs", {}).values())
    return False


def permissions(path: Path, root: Path) -> list[str]:
    workflow = load(path)
    problems: list[str] = []
    top = workflow.get("permissions")
    if top is None:
        problems.append(f"{path.name}: no top-level permissions (the default token may write)")
    elif top == "write-all" or (isinstance(top, dict) and any(v == "write" for v in top.values())):
        problems.append(f"{path.name}: top-level permissions grant write ({top}); grant per job")
    for name, job in workflow.get("jobs", {}).items():
        granted = job.get("permissions", top) or {}
        has_token = isinstance(granted, dict) and granted.get("id-token") == "write"
        if _uses_login(job, root) and not has_token:
            problems.append(f"{path.name}: job {name} signs in with {LOGIN_ACTION} (OIDC) without id-token: write")
        if has_token and not _uses_login(job, root):
            problems.append(f"{path.name}: job {name} has id-token: write but never signs in to Azure")
        for step in job.get("steps", []):
            uses = str(step.get("uses", "")).lower()
            if uses.startswith(f"{LOGIN_ACTION}@") and "creds" in (step.get("with") or {}):
                problems.append(f"{path.name}: job {name} logs in with a stored credential (creds), not OIDC")
    return problems


def secrets_in_run(path: Path) -> list[str]:
    problems: list[str] = []
    for job_name, step in _steps(load(path)):
        script = step.get("run")
        if isinstance(script, str) and SECRET_EXPRESSION.search(script):
            problems.append(
                f"{path.name}: job {job_name}, step {step.get('name', script[:40])!r} puts a secret in run:"
            )
    return problems


def all_problems(root: Path) -> list[str]:
    paths = workflows(root)
    problems = schema_problems(paths) + consistent_pins(paths) + credentialed_jobs(root)
    for path in paths:
        problems += pinned_actions(path) + permissions(path, root) + secrets_in_run(path) + images_by_digest(path)
    return problems


IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
UNPINNED = [
    (re.compile(r"\bnpm (install|i)\b|\bnpx\b"), "installs an npm package (its install scripts run unpinned code)"),
    (re.compile(r"\bdpkg -i\b"), "installs a downloaded .deb"),
    (re.compile(r"curl[^|\n]*\|\s*(sudo\s+)?(ba)?sh\b"), "pipes a download into a shell"),
]
VAULT_SECRETS = ("USAGE_API_KEY", "SLACK_WEBHOOK_URL")


def images_by_digest(path: Path) -> list[str]:
    problems = []
    for name, job in load(path).get("jobs", {}).items():
        container = job.get("container")
        images = [container if isinstance(container, str) else (container or {}).get("image")]
        images += [(service or {}).get("image") for service in (job.get("services") or {}).values()]
        for image in filter(None, images):
            if not IMAGE_DIGEST.search(str(image)):
                problems.append(f"{path.name}: job {name} uses image {image} by tag, not by digest (@sha256:...)")
    return problems


def _credentialed_jobs(root: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """Jobs whose steps can obtain an Azure token: id-token: write with steps (a caller job runs none)."""
    found = []
    for path in workflows(root):
        workflow = load(path)
        for name, job in workflow.get("jobs", {}).items():
            granted = job.get("permissions", workflow.get("permissions")) or {}
            if isinstance(granted, dict) and granted.get("id-token") == "write" and "steps" in job:
                found.append((path, name, job))
    return found


def credentialed_jobs(root: Path) -> list[str]:
    problems = []
    for path, name, job in _credentialed_jobs(root):
        where = f"{path.name}: job {name}"
        if not job.get("environment"):
            problems.append(f"{where} can sign in to Azure but runs in no environment (its federated subject would "
                            "not be bound to one)")
        for step in job.get("steps", []):
            script = str(step.get("run", ""))
            for line in script.splitlines():
                if "pip install" in line and "--require-hashes" not in line and "--no-deps" not in line:
                    problems.append(f"{where}: pip install without --require-hashes: {line.strip()}")
            for pattern, what in UNPINNED:
                if pattern.search(script):
                    problems.append(f"{where}: step {step.get('name', script[:40])!r} {what}")
            for variable, value in (step.get("env") or {}).items():
                if variable in VAULT_SECRETS or any(f"secrets.{secret}" in str(value) for secret in VAULT_SECRETS):
                    problems.append(f"{where}: receives the Key Vault secret {variable} (set it out of band)")
    return problems
