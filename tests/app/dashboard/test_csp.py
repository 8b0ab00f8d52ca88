"""The dashboard's Content-Security-Policy (issue 22, finding 15): inline scripts run only by their hash, and the
page and the Function's response header carry the same policy."""

from __future__ import annotations

import base64
import hashlib
import re

from company_activity.dashboard.render import CONTENT_SECURITY_POLICY, TEMPLATE, hashed_policy
from company_activity.functions.dashboard import PAGE_HEADERS


def policy_of(content: str) -> dict[str, str]:
    return {part.split()[0]: part.split(None, 1)[1] if " " in part.strip() else "" for part in
            (p.strip() for p in content.split(";"))}


def test_scripts_run_by_hash_and_base_and_form_targets_are_closed() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    policy = policy_of(CONTENT_SECURITY_POLICY)
    [script] = re.findall(r"<script>(.*?)</script>", template, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in policy["script-src"] and "unsafe-eval" not in policy["script-src"]
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'none'"
    assert policy["default-src"] == "'none'"
    assert PAGE_HEADERS["Content-Security-Policy"] == CONTENT_SECURITY_POLICY  # one policy, two carriers


def test_a_script_injected_into_the_page_has_no_matching_hash() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    injected = template.replace("</body>", "<script>alert(1)</script></body>")
    evil = base64.b64encode(hashlib.sha256(b"alert(1)").digest()).decode()
    assert evil not in policy_of(CONTENT_SECURITY_POLICY)["script-src"]
    assert evil in policy_of(hashed_policy(injected))["script-src"]  # the policy follows the template's scripts
