"""The settings contract: defaults, validation errors naming the setting, secrets never shown."""

from __future__ import annotations

import re

import pytest

from company_activity.resource_ids import FactoryRef
from company_activity.settings import (
    SETTING_NAMES,
    SETTINGS,
    AppSettings,
    DashboardSettings,
    DateSettings,
    Secret,
    SettingsError,
    StorageSettings,
    UsageApiSettings,
)

KEY = "sk-live-very-secret-123"
BASE = {
    "USAGE_API_BASE_URL": "http://127.0.0.1:9999/",
    "USAGE_API_KEY": KEY,
    "STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true",
}


def test_defaults_apply_and_url_is_normalised() -> None:
    s = AppSettings.from_env(BASE)
    assert s.ingest.api.base_url == "http://127.0.0.1:9999"
    assert (s.ingest.api.page_size, s.ingest.storage.bronze_container, s.triggers.ingest_schedule) == (
        1000, "bronze", "0 0 1 * * *")
    assert (s.dates.max_days, s.ingest.reject_threshold, str(s.dates.tz)) == (400, 0.01, "UTC")
    assert s.ingest.storage.account_url is None


def test_secrets_never_appear_in_repr() -> None:
    s = AppSettings.from_env(BASE)
    assert KEY not in repr(s) and KEY not in str(s)
    assert "UseDevelopmentStorage" not in repr(s)
    assert s.ingest.api.key.reveal() == KEY


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("USAGE_API_PAGE_SIZE", "lots", "USAGE_API_PAGE_SIZE must be a whole number, got 'lots'"),
        ("USAGE_API_PAGE_SIZE", "0", "USAGE_API_PAGE_SIZE must be between 1 and 10000"),
        ("USAGE_API_TIMEOUT_S", "-1", "USAGE_API_TIMEOUT_S must be between"),
        ("REJECT_THRESHOLD", "1.5", "REJECT_THRESHOLD must be between 0.0 and 1.0, got '1.5'"),
        ("BACKFILL_MAX_DAYS", "3.5", "BACKFILL_MAX_DAYS must be a whole number, got '3.5'"),
        ("BRONZE_CONTAINER", "Bronze_Data", "BRONZE_CONTAINER must be 3-63 lowercase"),
        ("BACKFILL_QUEUE", "q", "BACKFILL_QUEUE must be 3-63 lowercase"),
        ("INGEST_SCHEDULE", "0 1 * * *", "INGEST_SCHEDULE must be an NCRONTAB expression with 6 fields"),
        ("INGEST_TIMEZONE", "Mars/Olympus", "INGEST_TIMEZONE must be an IANA time zone"),
        ("USAGE_API_BASE_URL", "ftp://x", "USAGE_API_BASE_URL must be an http(s) URL, got 'ftp://x'"),
    ],
)
def test_invalid_values_name_the_setting_and_value(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=None) as err:
        AppSettings.from_env({**BASE, name: value})
    assert fragment in str(err.value)
    assert err.value.setting == name


def test_missing_required_setting_is_named() -> None:
    env = {k: v for k, v in BASE.items() if k != "USAGE_API_KEY"}
    with pytest.raises(SettingsError, match="USAGE_API_KEY is required"):
        AppSettings.from_env(env)


def test_exactly_one_storage_setting() -> None:
    with pytest.raises(SettingsError, match="neither is set"):
        AppSettings.from_env({k: v for k, v in BASE.items() if k != "STORAGE_CONNECTION_STRING"})
    both = {**BASE, "STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"}
    with pytest.raises(SettingsError, match="both are set") as err:
        AppSettings.from_env(both)
    assert "UseDevelopmentStorage" not in str(err.value)


def test_account_url_mode_needs_no_connection_string() -> None:
    env = {k: v for k, v in BASE.items() if k != "STORAGE_CONNECTION_STRING"}
    s = AppSettings.from_env({**env, "STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net"})
    assert s.ingest.storage.connection_string is None
    assert s.ingest.storage.account_url == "https://acct.blob.core.windows.net"


def test_setting_names_are_the_documented_list() -> None:
    assert SETTING_NAMES[0] == "USAGE_API_BASE_URL"
    assert len(SETTING_NAMES) == len(set(SETTING_NAMES)) == 21


def test_dashboard_settings_parse_object_ids_and_refuse_a_password_without_echoing_it() -> None:
    group, user = "8A5C0A3E-1D3B-4C1E-9F55-0D7A1B2C3D4E", "0f1e2d3c-4b5a-4968-8776-655443322110"
    settings = DashboardSettings.from_env({
        "DASHBOARD_SQL_CONNECTION_STRING": "Server=tcp:s,1433;Authentication=ActiveDirectoryMSI;UID=x",
        "DASHBOARD_ALLOWED_GROUPS": f" {group} ,", "DASHBOARD_ALLOWED_USERS": user,
    })  # fmt: skip
    assert settings.allowed_groups == {group.lower()} and settings.allowed_users == {user}
    assert DashboardSettings.from_env({}).allowed_groups == frozenset()  # nobody: the function answers 403
    refused = re.escape("DASHBOARD_ALLOWED_USERS: 'alice@example.com' is not an Entra object id")
    with pytest.raises(SettingsError, match=refused):
        DashboardSettings.from_env({"DASHBOARD_ALLOWED_USERS": "alice@example.com"})
    with pytest.raises(SettingsError) as caught:
        DashboardSettings.from_env({"DASHBOARD_SQL_CONNECTION_STRING": "Server=s;UID=sa;Password=Hunter2!"})
    assert caught.value.setting == "DASHBOARD_SQL_CONNECTION_STRING" and "Hunter2" not in str(caught.value)


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("BACKFILL_LOAD_ENABLED", "yes", "BACKFILL_LOAD_ENABLED must be true or false, got 'yes'"),
    ("DATA_FACTORY_RESOURCE_ID", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/x",
     "DATA_FACTORY_RESOURCE_ID must be a Data Factory resource id"),
    ("ARM_ENDPOINT", "management.azure.com", "ARM_ENDPOINT must be an http(s) URL"),
])
def test_load_settings_reject_bad_values_naming_them(name: str, value: str, fragment: str) -> None:
    env = {"USAGE_API_BASE_URL": "https://x", "USAGE_API_KEY": "k", "STORAGE_ACCOUNT_URL": "https://a", name: value}
    with pytest.raises(SettingsError, match=re.escape(fragment)) as caught:
        AppSettings.from_env(env)
    assert caught.value.setting == name


def test_load_settings_defaults_and_values() -> None:
    base = {"USAGE_API_BASE_URL": "https://x", "USAGE_API_KEY": "k", "STORAGE_ACCOUNT_URL": "https://a"}
    defaults = AppSettings.from_env(base).load
    assert (defaults.enabled, defaults.factory, defaults.arm_endpoint) == (True, None, "https://management.azure.com")
    factory = "/subscriptions/0000/resourceGroups/rg-ca/providers/Microsoft.DataFactory/factories/adf-ca-dev"
    set_ = AppSettings.from_env({**base, "BACKFILL_LOAD_ENABLED": "FALSE", "DATA_FACTORY_RESOURCE_ID": factory,
                                 "ARM_ENDPOINT": "http://127.0.0.1:9/"}).load
    assert (set_.enabled, set_.factory, set_.arm_endpoint) == (False, FactoryRef.parse(factory), "http://127.0.0.1:9")


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("garbage", "part 1 of 1 is not Key=Value"),
        ("AccountName=devstoreaccount1;AccountKey", "part 2 of 2 is not Key=Value"),
        ("AccountName=devstoreaccount1;AccountKey=abc", "AccountKey is not valid base64"),
        ("AccountName=devstoreaccount1", "has no credential"),
        ("AccountKey=" + AZURITE_KEY, "names no account"),
        ("AccountName=a;AccountKey=" + AZURITE_KEY + ";BlobEndpoint=localhost:10000", "BlobEndpoint must be an http"),
    ],
)
def test_malformed_storage_connection_string_names_the_setting_and_hides_the_value(value: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment) as info:
        AppSettings.from_env({**BASE, "STORAGE_CONNECTION_STRING": value})
    assert info.value.setting == "STORAGE_CONNECTION_STRING"
    assert "STORAGE_CONNECTION_STRING" in str(info.value)
    for secret_part in ("garbage", "abc", AZURITE_KEY, "localhost:10000"):
        assert secret_part not in str(info.value)


@pytest.mark.parametrize("value", [
    "UseDevelopmentStorage=true",
    f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
    "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2022&sig=x",
])
def test_wellformed_storage_connection_strings_load(value: str) -> None:
    assert AppSettings.from_env({**BASE, "STORAGE_CONNECTION_STRING": value}).ingest.storage.connection_string


def test_a_command_reads_only_the_groups_it_needs() -> None:
    """Storage and dates without any API setting: nothing has to stand in for settings a command never uses,
    and a bad API setting does not stop a command that does not call the API."""
    env = {"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true", "USAGE_API_PAGE_SIZE": "lots"}
    assert StorageSettings.from_env(env).bronze_container == "bronze"
    assert DateSettings.from_env(env).max_days == 400
    with pytest.raises(SettingsError, match="USAGE_API_BASE_URL is required"):
        UsageApiSettings.from_env(env)


def test_each_setting_is_declared_once_with_its_parser_default_and_doc() -> None:
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    for spec in SETTINGS:
        assert spec.doc.endswith(".") and spec.name.isupper(), spec.name
        if spec.default is not None:
            spec.read({})  # the documented default is a valid value
    assert [s.name for s in SETTINGS if s.secret] == ["USAGE_API_KEY", "STORAGE_CONNECTION_STRING"]


def test_a_group_built_by_hand_needs_only_its_required_fields() -> None:
    api = UsageApiSettings(base_url="http://x", key=Secret("k"))
    assert (api.page_size, api.timeout_s) == (1000, 30.0)
    with pytest.raises(SettingsError, match="neither is set"):
        StorageSettings()
