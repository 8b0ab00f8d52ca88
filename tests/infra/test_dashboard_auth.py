"""The dashboard in Azure: App Service authentication (authsettingsV2) in the templates, checked on the
templates as they are and on copies mutated into the mistakes it must catch (checks.dashboard_auth)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.infra import checks
from tests.support.infra.repo import ROOT

ENVIRONMENTS = [pytest.param(p, id=p.stem) for p in checks.environments(ROOT)]
FN = "infra/modules/function-app.bicep"


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_the_templates_require_entra_sign_in_for_the_configured_group(params_path: Path) -> None:
    assert checks.dashboard_auth(checks.load(params_path)) == []


def test_the_policy_and_the_app_settings_name_the_groups_and_users_from_the_environment() -> None:
    environment = {**checks.SAMPLE_ENVIRONMENT, "DASHBOARD_ALLOWED_GROUPS": "g1,g2", "DASHBOARD_ALLOWED_USERS": "u1"}
    deployment = checks.load(ROOT / "infra" / "env" / "dev.bicepparam", environment)
    assert deployment.evaluator.param("dashboardAllowedGroupIds") == ["g1", "g2"]
    assert deployment.evaluator.param("dashboardAllowedUserIds") == ["u1"]
    assert checks.dashboard_auth(deployment) == []
    settings = checks.app_settings(deployment)
    assert (settings["DASHBOARD_ALLOWED_GROUPS"], settings["DASHBOARD_ALLOWED_USERS"]) == ("g1,g2", "u1")


def test_nobody_allowed_is_a_problem() -> None:
    environment = {k: v for k, v in checks.SAMPLE_ENVIRONMENT.items() if k != "DASHBOARD_ALLOWED_GROUPS"}
    problems = checks.dashboard_auth(checks.load(ROOT / "infra" / "env" / "dev.bicepparam", environment))
    assert any("nobody may open the dashboard" in p for p in problems)


MUTATIONS = {
    "anonymous allowed": ("unauthenticatedClientAction: 'RedirectToLoginPage'",
                          "unauthenticatedClientAction: 'AllowAnonymous'", "must refuse anonymous callers"),
    "authentication optional": ("      requireAuthentication: true", "      requireAuthentication: false",
                                "requireAuthentication must be True"),
    "the dashboard skips sign-in": ("  '/api/ingestions'\n]", "  '/api/ingestions'\n  '/api/dashboard'\n]",
                                    "only the API routes"),
    "a client secret": ("clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'",
                        "clientSecretSettingName: 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'",
                        "clientSecretSettingName must be"),
    "any tenant": ("'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'",
                   "'${environment().authentication.loginEndpoint}common/v2.0'", "this tenant's v2.0 issuer"),
    "every user of the tenant": ("              groups: allowedGroupIds\n", "              groups: []\n",
                                 "allowedPrincipals.groups must be"),
    "http allowed": ("      requireHttps: true", "      requireHttps: false", "requireHttps must be True"),
    "no auth settings": ("  name: 'authsettingsV2'", "  name: 'authsettings'", "expected one authsettingsV2"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_weakening_of_the_sign_in_is_caught(name: str, tmp_path: Path) -> None:
    old, new, expected = MUTATIONS[name]
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "infra", copy / "infra")
    source = (copy / FN).read_text()
    assert source.count(old) == 1, f"mutation {name!r} no longer applies"
    (copy / FN).write_text(source.replace(old, new))
    problems = checks.dashboard_auth(checks.load(copy / "infra" / "env" / "dev.bicepparam"))
    assert any(expected in p for p in problems), problems


def test_the_dashboard_identities_hold_no_azure_role() -> None:
    """Only the Function App's and the factory's system identities, and the CRM feed's named principals, get roles
    (checks.EXPECTED_ROLES is the whole set): the dashboard's SQL reader holds rpt_reader in the database and
    nothing in Azure."""
    found, problems = checks.role_assignments(checks.load(ROOT / "infra" / "env" / "dev.bicepparam"))
    # The principals the environment names for the CRM feed (issue 17) are people and the export job, not these.
    assert problems == [] and {who for who, *_ in found} == {"function", "factory",
                                                             *checks.PRINCIPAL_PARAMETERS.values()}


def test_the_dashboard_reader_script_makes_its_user_a_member_of_rpt_reader_and_nothing_else() -> None:
    import re

    import sqlfluff

    script = (ROOT / "infra" / "sql" / "grant_dashboard_reader.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    assert re.findall(r"ALTER ROLE (\S+) ADD MEMBER", code) == ["rpt_reader"]
    assert not re.search(r"\b(GRANT|DENY|db_owner|db_datareader|CONTROL)\b", code, re.IGNORECASE)
    assert "WITH SID = ' + @sid + N', TYPE = E;'" in code and "FROM EXTERNAL PROVIDER" not in code
    assert "IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(DashboardReaderName)')" in code
    deploy = (ROOT / "infra" / "deploy.sh").read_text(encoding="utf-8")
    assert "-i infra/sql/grant_dashboard_reader.sql" in deploy
    substituted = code.replace("$(DashboardReaderName)", "iddbexample").replace(
        "$(DashboardReaderClientId)", checks.SAMPLE_CLIENT_ID)
    sqlfluff.parse(substituted, dialect="tsql")  # raises on invalid T-SQL
