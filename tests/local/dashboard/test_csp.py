"""The dashboard's Content-Security-Policy (issue 22, finding 15): inline scripts run only by their hash."""

from __future__ import annotations

import base64
import hashlib
import re

from company_activity_local.dashboard.render import TEMPLATE, with_hashed_csp


def policy_of(html: str) -> dict[str, str]:
    [content] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    return {part.split()[0]: part.split(None, 1)[1] if " " in part.strip() else "" for part in
            (p.strip() for p in content.split(";"))}


def test_scripts_run_by_hash_and_base_and_form_targets_are_closed() -> None:
    html = with_hashed_csp(TEMPLATE.read_text(encoding="utf-8"))
    policy = policy_of(html)
    [script] = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in policy["script-src"] and "unsafe-eval" not in policy["script-src"]
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'none'"
    assert policy["default-src"] == "'none'"


def test_a_script_injected_into_the_page_has_no_matching_hash() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    injected = template.replace("</body>", "<script>alert(1)</script></body>")
    html = with_hashed_csp(template)
    evil = base64.b64encode(hashlib.sha256(b"alert(1)").digest()).decode()
    assert evil not in policy_of(html)["script-src"] and "alert(1)" in injected
