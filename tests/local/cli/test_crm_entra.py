"""`company-activity crm upload` and `crm download` against a storage account URL with Microsoft Entra ID, as a CRM
writer and a replay reader use them in Azure (docs/crm.md, "Who delivers the snapshot").

The account is Azurite over HTTPS with its OAuth check on (`--oauth basic`: every bearer token's issuer, audience and
lifetime are checked). The CLI runs as a subprocess with no storage key anywhere: DefaultAzureCredential ends at the
Azure CLI credential, whose `az account get-access-token` is a stand-in that issues a token for the audience asked
for, and records the asks. Azurite does not evaluate Azure RBAC, so a refused request comes from a stand-in that
answers Azure Storage's 403.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity_local.services.azurite import ACCOUNT, ACCOUNT_KEY, azurite_binary
from company_activity_local.services.processes import LOOPBACK, Process, free_port
from company_activity_local.warehouse.crm import crm_blob_path

pytestmark = [pytest.mark.services, pytest.mark.cli]

CLI = Path(sys.executable).with_name("company-activity")
DAY = dt.date(2026, 11, 27)
CSV = "company_id,company_name,industry_tag,country,last_contact_date\nc000001,Acme Corp,saas,US,2026-11-20\n"
TENANT = "00000000-aaaa-bbbb-cccc-0000000000ff"


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, so that the SDK's TLS check passes against Azurite."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def entra_account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(account URL, certificate) of an Azurite blob service that accepts only HTTPS bearer tokens it can check."""
    folder = tmp_path_factory.mktemp("azurite-entra")
    cert, key = self_signed_certificate(folder)
    port = free_port()
    binary = str(Path(azurite_binary()).with_name("azurite-blob"))
    process = Process("azurite-blob", [binary, "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
                                       "--blobHost", LOOPBACK, "--blobPort", str(port), "--oauth", "basic", "--cert",
                                       str(cert), "--key", str(key)], ports=[port], cwd=folder)
    process.start(timeout_s=60)
    try:
        yield f"https://{LOOPBACK}:{port}/{ACCOUNT}", cert
    finally:
        process.stop()


def fake_az(folder: Path) -> Path:
    """`az account get-access-token --output json --resource R`: a token for R, as the Azure CLI credential reads it."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "az"
    script.write_text(f"""#!{sys.executable}
import base64, json, sys, time
args = sys.argv[1:]
with open({str(folder / "asks.jsonl")!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
resource = args[args.index("--resource") + 1]
now = int(time.time())
claims = {{"aud": resource.rstrip("/"), "iss": "https://sts.windows.net/{TENANT}/", "iat": now - 60, "nbf": now - 60,
          "exp": now + 3600, "oid": "11111111-2222-3333-4444-555555555555", "tid": "{TENANT}"}}
part = lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode().rstrip("=")
print(json.dumps({{"accessToken": part({{"alg": "none", "typ": "JWT"}}) + "." + part(claims) + ".c2ln",
                  "expires_on": now + 3600, "tokenType": "Bearer"}}))
""", encoding="utf-8")
    script.chmod(0o755)
    return bin_dir


def run_cli(folder: Path, certificate: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{fake_az(folder)}:/usr/bin:/bin",
        "HOME": str(folder),
        "REQUESTS_CA_BUNDLE": str(certificate),
        "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",  # skip the managed-identity probe, as on a laptop
    }
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=environment, cwd=folder,
                          timeout=120, check=False)


def test_a_crm_writer_uploads_with_entra_id_and_a_replay_reader_downloads(
        entra_account: tuple[str, Path], tmp_path: Path) -> None:
    url, certificate = entra_account
    # The deployment creates the container; the writer's role is on it only, so upload must not create it.
    service = BlobServiceClient(url, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                                connection_verify=str(certificate))
    service.create_container("crm")
    snapshot = tmp_path / "export.csv"
    snapshot.write_text(CSV, encoding="utf-8")

    upload = run_cli(tmp_path, certificate, "crm", "upload", "--date", DAY.isoformat(), str(snapshot),
                     "--account-url", url)
    assert upload.returncode == 0, upload.stderr
    assert f"to crm/{crm_blob_path(DAY)}" in upload.stdout
    stored = service.get_container_client("crm").get_blob_client(crm_blob_path(DAY)).download_blob().readall()
    assert stored.decode() == CSV
    asks = [json.loads(line) for line in (tmp_path / "asks.jsonl").read_text().splitlines()]
    assert asks and all(a[a.index("--resource") + 1].rstrip("/") == "https://storage.azure.com" for a in asks)

    download = run_cli(tmp_path, certificate, "crm", "download", "--date", DAY.isoformat(), "--out",
                       str(tmp_path / "out"), "--account-url", url)
    assert download.returncode == 0, download.stderr
    assert (tmp_path / "out" / crm_blob_path(DAY)).read_text(encoding="utf-8") == CSV


def test_a_token_for_another_audience_is_refused_by_the_account(entra_account: tuple[str, Path],
                                                                tmp_path: Path) -> None:
    # The strict check of the stand-in: a token the CLI asked for the wrong resource would not get in.
    url, certificate = entra_account
    bin_dir = fake_az(tmp_path)
    script = bin_dir / "az"
    script.write_text(script.read_text().replace('resource.rstrip("/")', '"https://management.azure.com"'))
    snapshot = tmp_path / "export.csv"
    snapshot.write_text(CSV, encoding="utf-8")
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "REQUESTS_CA_BUNDLE": str(certificate),
                   "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential"}
    result = subprocess.run([str(CLI), "crm", "upload", "--date", DAY.isoformat(), str(snapshot), "--account-url", url],
                            capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert result.returncode == 1
    assert "Server failed to authenticate the request" in result.stderr


class ContainerScopedStorage(http.server.BaseHTTPRequestHandler):
    """Azure Storage as an identity whose data role is on one container sees it (strictest reading: a role scoped to
    the container does not cover creating containers): Create Container is refused with 403
    AuthorizationPermissionMismatch; Put Blob succeeds when `may_write`, is refused otherwise."""

    may_write = True
    requests: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append(self.path)
        if "restype=container" in self.path or not self.may_write:
            body = (b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>'
                    b"<Message>This request is not authorized to perform this operation using this permission."
                    b"</Message></Error>")
            self.send_response(403)
            self.send_header("x-ms-error-code", "AuthorizationPermissionMismatch")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(201)
        self.send_header("ETag", '"0x8DCF00000000000"')
        self.send_header("Last-Modified", "Mon, 07 Dec 2026 03:00:00 GMT")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def upload_to(handler: type[ContainerScopedStorage], folder: Path) -> subprocess.CompletedProcess[str]:
    server = http.server.ThreadingHTTPServer((LOOPBACK, free_port()), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    snapshot = folder / "export.csv"
    snapshot.write_text(CSV, encoding="utf-8")
    try:
        return subprocess.run(
            [str(CLI), "crm", "upload", "--date", DAY.isoformat(), str(snapshot)],
            env={**os.environ, "STORAGE_CONNECTION_STRING":
                 f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
                 f"BlobEndpoint=http://{LOOPBACK}:{server.server_address[1]}/{ACCOUNT};"},
            capture_output=True, text=True, timeout=120, check=False)
    finally:
        server.shutdown()


def test_a_writer_whose_role_is_on_the_container_uploads_without_creating_it(tmp_path: Path) -> None:
    handler = type("Writer", (ContainerScopedStorage,), {"requests": []})
    result = upload_to(handler, tmp_path)
    assert result.returncode == 0, result.stderr
    # One Put Blob of the snapshot, no Create Container.
    assert [unquote(r) for r in handler.requests] == [f"/{ACCOUNT}/crm/{crm_blob_path(DAY)}"]


def test_an_identity_without_the_writer_role_is_told_which_role_on_which_container(tmp_path: Path) -> None:
    handler = type("Stranger", (ContainerScopedStorage,), {"requests": [], "may_write": False})
    result = upload_to(handler, tmp_path)
    assert result.returncode == 1
    assert ("the identity you signed in with needs Storage Blob Data Contributor (a CRM writer: CRM_WRITER_PRINCIPALS) "
            "on container crm") in result.stderr.replace("\n", " ")
