"""A local stand-in for the product usage API: the documented contract, deterministic data, injectable faults.

`with UsageApiSimulator(SimulatorConfig(companies=1000, seed=1)) as api: api.base_url` serves
`GET /v1/usage/daily` on a free loopback port from a background thread; `company-activity simulate-api`
runs the same server in the foreground. Data comes from local.usage_data (pure, computed per page), so
memory stays O(page) for any number of companies. Faults follow a spec string, see FAULT_SPEC_HELP and
docs/usage-api.md.

Built on the standard library's ThreadingHTTPServer: the simulator needs exact control of the socket
(connection resets, truncated bodies, stalls), which web frameworks deliberately hide.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import struct
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from company_activity.errors import InputError
from company_activity_local.services.processes import LOOPBACK
from company_activity_local.services.usage_data import Dataset

log = logging.getLogger(__name__)

API_PATH = "/v1/usage/daily"
KEY_HEADER = "X-API-Key"
# The simulator's documented development key: not a secret.
DEFAULT_API_KEY = "local-dev-key"
# Where injected 3xx faults point: a reserved name that never resolves, so a client that follows it fails.
REDIRECT_TARGET = "http://redirect-target.invalid"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

FAULT_SPEC_HELP = (
    "comma-separated faults KIND@WHEN[:key=value...]; WHEN is the k-th request for a date (1-based), "
    "a range k-m, or * for every request. KIND: an HTTP status 300-599 (429 takes retry_after=SECONDS, "
    "default 1), reset, slow (seconds=S, default 5), truncate, shape (field=body|data|date|next_cursor), "
    "loop; plus invalid@P: a share 0..1 of records corrupted. Example: "
    "'429@1:retry_after=1,503@2,reset@3,slow@4:seconds=3,truncate@5,invalid@0.02'"
)
SHAPE_FIELDS = ("body", "data", "date", "next_cursor")
_FAULT_PARAMS = {"429": {"retry_after"}, "slow": {"seconds"}, "shape": {"field"}}
_FAULT_KINDS = ("reset", "slow", "truncate", "shape", "loop")


class SimulatorError(InputError):
    """Bad simulator configuration; the message names the option and value."""


class FaultSpecError(SimulatorError):
    """A fault spec that does not parse; the message names the bad token."""


@dataclass(frozen=True)
class Fault:
    """One fault: `kind` fires on requests first..last (1-based, per date; last None = no end)."""

    kind: str  # an HTTP status as text ("503"), or one of _FAULT_KINDS
    first: int
    last: int | None
    token: str
    retry_after: int = 1
    seconds: float = 5.0
    field: str = ""

    def covers(self, k: int) -> bool:
        return self.first <= k and (self.last is None or k <= self.last)


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple[Fault, ...] = ()
    invalid_share: float = 0.0

    def fault_for(self, k: int) -> Fault | None:
        return next((f for f in self.faults if f.covers(k)), None)


def parse_faults(spec: str) -> FaultPlan:
    """Parse a fault spec (FAULT_SPEC_HELP); raise FaultSpecError naming the offending token."""
    faults: list[Fault] = []
    invalid_share = 0.0
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            continue
        head, _, param_text = token.partition(":")
        kind, at, when = head.partition("@")
        kind, when = kind.strip().lower(), when.strip()
        if not at or not kind or not when:
            raise FaultSpecError(f"fault {token!r}: expected KIND@WHEN[:key=value...]")
        params = _parse_params(token, param_text)
        if kind == "invalid":
            if params:
                raise FaultSpecError(f"fault {token!r}: invalid takes no parameters")
            invalid_share = _share(token, when)
            continue
        if not (kind in _FAULT_KINDS or (kind.isdigit() and 300 <= int(kind) <= 599)):
            raise FaultSpecError(
                f"fault {token!r}: unknown kind {kind!r}; expected an HTTP status 300-599 or one of "
                f"{', '.join((*_FAULT_KINDS, 'invalid'))}"
            )
        unknown = set(params) - _FAULT_PARAMS.get(kind, set())
        if unknown:
            raise FaultSpecError(f"fault {token!r}: unknown parameter {sorted(unknown)[0]!r} for {kind}")
        first, last = _when(token, when)
        fault = Fault(kind, first, last, token)
        if "retry_after" in params:
            fault = _replace(fault, retry_after=_int_param(token, "retry_after", params["retry_after"]))
        if "seconds" in params:
            fault = _replace(fault, seconds=_float_param(token, "seconds", params["seconds"]))
        if kind == "shape":
            if params.get("field") not in SHAPE_FIELDS:
                raise FaultSpecError(
                    f"fault {token!r}: shape needs field=one of {', '.join(SHAPE_FIELDS)}, "
                    f"got {params.get('field')!r}"
                )
            fault = _replace(fault, field=params["field"])
        for other in faults:
            if _overlap(fault, other):
                raise FaultSpecError(f"fault {token!r} overlaps {other.token!r}: one fault per request")
        faults.append(fault)
    return FaultPlan(tuple(faults), invalid_share)


def _replace(fault: Fault, **changes: Any) -> Fault:
    return Fault(**{**fault.__dict__, **changes})


def _parse_params(token: str, text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(":"))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise FaultSpecError(f"fault {token!r}: parameter {item!r} must be key=value")
        params[key.strip()] = value.strip()
    return params


def _when(token: str, when: str) -> tuple[int, int | None]:
    if when == "*":
        return 1, None
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", when)
    if not match or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < int(match[1])):
        raise FaultSpecError(
            f"fault {token!r}: WHEN {when!r} must be a request number k >= 1, a range k-m with m >= k, or *"
        )
    first = int(match[1])
    return first, int(match[2]) if match[2] is not None else first


def _overlap(a: Fault, b: Fault) -> bool:
    a_last = a.last if a.last is not None else float("inf")
    b_last = b.last if b.last is not None else float("inf")
    return a.first <= b_last and b.first <= a_last


def _share(token: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"fault {token!r}: invalid@P needs a share P between 0 and 1, got {text!r}")
    return value


def _int_param(token: str, key: str, text: str) -> int:
    if not text.isdigit():
        raise FaultSpecError(f"fault {token!r}: {key} must be a whole number of seconds >= 0, got {text!r}")
    return int(text)


def _float_param(token: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise FaultSpecError(f"fault {token!r}: {key} must be a number > 0, got {text!r}")
    return value


@dataclass(frozen=True)
class SimulatorConfig:
    companies: int = 1000
    seed: int = 0
    api_key: str = DEFAULT_API_KEY
    faults: FaultPlan = field(default_factory=FaultPlan)
    host: str = LOOPBACK
    port: int = 0  # 0: the OS picks a free port

    def __post_init__(self) -> None:
        if self.companies < 0:
            raise SimulatorError(f"companies must be >= 0, got {self.companies}")
        if not self.api_key:
            raise SimulatorError("api_key must not be empty")
        if not 0 <= self.port <= 65535:
            raise SimulatorError(f"port must be between 0 and 65535, got {self.port}")
        if not _is_loopback(self.host):
            raise SimulatorError(
                f"host must be a loopback address (127.0.0.1, ::1 or localhost), got {self.host!r}: "
                "the simulator is for local development and never listens on a network interface"
            )

    @classmethod
    def parse(cls, *, faults: str = "", **kwargs: Any) -> SimulatorConfig:
        """A config from a fault spec string (parse_faults) plus the other fields."""
        return cls(faults=parse_faults(faults), **kwargs)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Cursors:
    """Opaque page cursors: base64url of "date:index:mac", the mac keyed by the dataset (seed, companies)."""

    def __init__(self, dataset: Dataset):
        self._key = hashlib.blake2b(f"cursor:{dataset.seed}:{dataset.companies}".encode(), digest_size=16).digest()
        self._companies = dataset.companies

    def _mac(self, day: str, index: int) -> str:
        return hmac.new(self._key, f"{day}:{index}".encode(), "sha256").hexdigest()[:12]

    def encode(self, day: datetime.date, index: int) -> str:
        text = f"{day.isoformat()}:{index}:{self._mac(day.isoformat(), index)}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def decode(self, day: datetime.date, cursor: str) -> int | None:
        """The company index the cursor points at, or None when it is not a cursor of this day."""
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        parts = text.split(":")
        if len(parts) != 3 or parts[0] != day.isoformat() or not parts[1].isdigit():
            return None
        index = int(parts[1])
        if index > self._companies or not hmac.compare_digest(parts[2], self._mac(parts[0], index)):
            return None
        return index


class _BadRequest(InputError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections are closed by UsageApiSimulator.stop()

    def __init__(self, address: tuple[str, int], simulator: UsageApiSimulator):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
            self.simulator.connections_opened += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            # A client that gave up (timeout) or a reset we injected is not a server error.
            log.debug("usage API simulator: connection from %s ended abruptly", client_address, exc_info=True)
        else:
            log.exception("usage API simulator: error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are separate writes
    server: _Server

    def do_GET(self) -> None:
        self.server.simulator._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("usage API simulator: %s %s", self.address_string(), format % args)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(payload, separators=(",", ":")).encode(), headers)

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reset_connection(self) -> None:
        """Abort the TCP connection with an RST, before any byte of a response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class UsageApiSimulator:
    """The usage API on a loopback port, served from a background thread; a context manager."""

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.dataset = Dataset(self.config.companies, self.config.seed, self.config.faults.invalid_share)
        self.cursors = Cursors(self.dataset)
        self._lock = threading.Lock()
        self._per_date: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self.faults_fired: Counter[str] = Counter()
        self.requests = 0
        self.connections_opened = 0  # TCP connections accepted: shows whether clients keep connections alive
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> UsageApiSimulator:
        self._stopping.clear()
        self._server = _Server((self.config.host, self.config.port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="usage-api-simulator", daemon=True)
        self._thread.start()
        log.info("usage API simulator listening on %s (companies=%d, seed=%d)",
                 self.base_url, self.config.companies, self.config.seed)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a `slow` fault
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # ends idle keep-alive handler threads
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """True from start() until stop() has shut the server down and its thread has ended."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> UsageApiSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise SimulatorError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    # -- counters ----------------------------------------------------------------------------------------
    def requests_for(self, day: datetime.date) -> int:
        """How many authenticated, well-formed requests for `day` arrived (the k of the fault spec)."""
        with self._lock:
            return self._per_date[day.isoformat()]

    def reset_counters(self) -> None:
        with self._lock:
            self._per_date.clear()
            self.status_counts.clear()
            self.faults_fired.clear()
            self.requests = 0
            self.connections_opened = 0

    def _count(self, status: int) -> None:
        with self._lock:
            self.status_counts[status] += 1

    # -- serving -----------------------------------------------------------------------------------------
    def _serve(self, handler: _Handler) -> None:
        with self._lock:
            self.requests += 1
        try:
            day, start, limit, cursor = self._parse(handler)
        except _BadRequest as bad:
            self._count(bad.status)
            handler.send_json(bad.status, {"error": str(bad)})
            return
        with self._lock:
            self._per_date[day.isoformat()] += 1
            k = self._per_date[day.isoformat()]
        fault = self.config.faults.fault_for(k)
        if fault is not None:
            with self._lock:
                self.faults_fired[fault.kind] += 1
            log.debug("usage API simulator: request %d for %s gets fault %s", k, day, fault.token)
            if self._fire(handler, fault, day, k):
                return
        records, next_index = self.dataset.page(day, start, limit)
        next_cursor = None if next_index is None else self.cursors.encode(day, next_index)
        payload: dict[str, Any] = {"date": day.isoformat(), "data": records, "next_cursor": next_cursor}
        if fault is not None and fault.kind == "loop":
            payload["next_cursor"] = cursor or self.cursors.encode(day, start)
        if fault is not None and fault.kind == "shape":
            payload = _break_shape(payload, fault.field)
        body = json.dumps(payload, separators=(",", ":")).encode()
        if fault is not None and fault.kind == "truncate":
            body = body[: len(body) // 2]
        self._count(200)
        handler.send_body(200, body)

    def _fire(self, handler: _Handler, fault: Fault, day: datetime.date, k: int) -> bool:
        """Apply a fault that replaces the response; True when the request is fully handled."""
        if fault.kind.isdigit():
            status = int(fault.kind)
            headers = {"Retry-After": str(fault.retry_after)} if status == 429 else {}
            if status < 400:
                headers["Location"] = REDIRECT_TARGET + handler.path
            self._count(status)
            handler.send_json(status, {"error": f"injected fault {fault.token} on request {k} for {day}"}, headers)
            return True
        if fault.kind == "reset":
            handler.reset_connection()
            return True
        if fault.kind == "slow":
            self._stopping.wait(fault.seconds)
        return False

    def _parse(self, handler: _Handler) -> tuple[datetime.date, int, int, str | None]:
        given = handler.headers.get(KEY_HEADER)
        if given is None:
            raise _BadRequest(401, f"missing {KEY_HEADER} header")
        if not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
            raise _BadRequest(401, f"invalid API key in {KEY_HEADER}")
        url = urlsplit(handler.path)
        if url.path != API_PATH:
            raise _BadRequest(404, f"no such resource: {url.path}")
        params = parse_qs(url.query, keep_blank_values=True)
        unknown = sorted(set(params) - {"date", "limit", "cursor"})
        if unknown:
            raise _BadRequest(400, f"unknown query parameter {unknown[0]!r}")
        repeated = sorted(name for name, values in params.items() if len(values) > 1)
        if repeated:
            raise _BadRequest(400, f"query parameter {repeated[0]!r} given more than once")
        day_text = params.get("date", [""])[0]
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_text):
            raise _BadRequest(400, f"date must be YYYY-MM-DD, got {day_text[:40]!r}")
        try:
            day = datetime.date.fromisoformat(day_text)
        except ValueError:
            raise _BadRequest(400, f"date is not a calendar date: {day_text!r}") from None
        limit_text = params.get("limit", [str(DEFAULT_LIMIT)])[0]
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise _BadRequest(400, f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit_text[:40]!r}")
        cursor = params.get("cursor", [None])[0]
        start = 0
        if cursor is not None:
            decoded = self.cursors.decode(day, cursor)
            if decoded is None:
                raise _BadRequest(400, f"cursor {cursor[:60]!r} is not a cursor of date {day.isoformat()}")
            start = decoded
        return day, start, int(limit_text), cursor


def _break_shape(payload: dict[str, Any], which: str) -> Any:
    if which == "body":
        return payload["data"]
    if which == "data":
        return {**payload, "data": {"records": payload["data"]}}
    if which == "date":
        shifted = datetime.date.fromisoformat(payload["date"]) + datetime.timedelta(days=1)
        return {**payload, "date": shifted.isoformat()}
    return {**payload, "next_cursor": 12345}
