"""Security rules of the settings contract (issue 22, findings 8 and 13).

A URL that receives a secret (the API key, a managed identity's bearer token) must be https unless it is a
loopback address (the simulator, the ARM stand-in, Azurite); an API key must be printable ASCII, because an
HTTP library that refuses a header value echoes it with `!r`, which no scrubber that looks for the plain key
recognises.
"""

from __future__ import annotations

import pytest

from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import AppSettings, Secret, SettingsError

BASE = {
    "USAGE_API_BASE_URL": "https://usage.example.com/v1",
    "USAGE_API_KEY": "k-123",
    "STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
}
SECRET_URLS = ("USAGE_API_BASE_URL", "ARM_ENDPOINT", "STORAGE_ACCOUNT_URL")


@pytest.mark.parametrize("name", SECRET_URLS)
@pytest.mark.parametrize("url", ["http://usage.example.com", "http://10.0.0.4:8080", "http://127.example.com"])
def test_plain_http_to_a_remote_host_is_refused(name: str, url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AppSettings.from_env({**BASE, name: url})
    assert caught.value.setting == name
    assert f"{name} must be an https URL" in str(caught.value) and "loopback" in str(caught.value)


@pytest.mark.parametrize("name", SECRET_URLS)
@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:7", "http://127.0.0.2"])
def test_plain_http_is_allowed_on_loopback_only(name: str, url: str) -> None:
    AppSettings.from_env({**BASE, name: url})


@pytest.mark.parametrize("key", ["abc\ndef", "abc\x00", "tab\tkey", "ключ", "key\x7f", " "])
def test_an_api_key_with_a_non_printable_or_non_ascii_character_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        AppSettings.from_env({**BASE, "USAGE_API_KEY": f"sk-{key}-S3CRETVALUE"})
    assert caught.value.setting == "USAGE_API_KEY"
    assert "printable ASCII" in str(caught.value)
    assert "S3CRETVALUE" not in str(caught.value) and "sk-" not in str(caught.value)


def test_the_clients_enforce_the_same_rules_when_built_directly() -> None:
    with pytest.raises(SettingsError, match="https"):
        UsageApiClient("http://usage.example.com", Secret("k"))
    with pytest.raises(SettingsError, match="printable ASCII"):
        UsageApiClient("https://usage.example.com", Secret("k\n1"))
    # The Data Factory client's token policy refuses plain http itself (azure-core, enforce_https): see
    # tests/app/orchestration/test_data_factory_client.py.
