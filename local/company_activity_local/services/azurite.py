"""Azurite (Blob + Queue emulator) from the repository's node_modules, on free loopback ports."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from company_activity_local.services.processes import LOOPBACK, Process, ServiceError, free_port
from company_activity_local.settings import ServicesSettings

# Azurite's documented, public development account: not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
REPO_ROOT = Path(__file__).resolve().parents[3]


def azurite_binary() -> str:
    configured = ServicesSettings.from_env().azurite_bin
    candidates = [str(configured)] if configured else []
    candidates.append(str(REPO_ROOT / "node_modules" / ".bin" / "azurite"))
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("azurite")
    if found:
        return found
    raise ServiceError("azurite not found: run `make install` (npm installs it into node_modules/)")


def connection_string(blob_port: int, queue_port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;"
        f"AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{LOOPBACK}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{LOOPBACK}:{queue_port}/{ACCOUNT};"
    )


def azurite_argv(blob_port: int, queue_port: int, table_port: int, location: Path | None = None) -> list[str]:
    """Azurite on loopback: in memory, or with its data in `location` (kept across restarts). Without telemetry:
    nothing leaves a developer's machine, and its telemetry client would keep node running after SIGTERM."""
    storage = ["--location", str(location)] if location is not None else ["--inMemoryPersistence"]
    return [
        azurite_binary(), *storage, "--skipApiVersionCheck", "--disableTelemetry",
        "--blobHost", LOOPBACK, "--blobPort", str(blob_port),
        "--queueHost", LOOPBACK, "--queuePort", str(queue_port),
        "--tableHost", LOOPBACK, "--tablePort", str(table_port),
    ]


class Azurite:
    """`with Azurite() as az: az.connection_string` runs a throwaway in-memory Azurite."""

    def __init__(self) -> None:
        self.blob_port = free_port()
        self.queue_port = free_port()
        self.table_port = free_port()
        self._process = Process(
            "azurite",
            azurite_argv(self.blob_port, self.queue_port, self.table_port),
            ports=[self.blob_port, self.queue_port],
            cwd=Path(tempfile.gettempdir()),  # Azurite writes debug/extent files next to its cwd
        )

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.queue_port)

    def start(self) -> Azurite:
        self._process.start(timeout_s=60)
        return self

    def stop(self) -> None:
        self._process.stop()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
