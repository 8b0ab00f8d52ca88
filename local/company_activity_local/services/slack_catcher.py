"""A local stand-in for a Slack incoming webhook: records every posted message, can fail or go down.

It answers like Slack does (`200 ok`, `400 invalid_payload` for a body that is not a JSON object,
`400 no_text` when neither `text` nor `blocks` is present), so an alert body that Slack would refuse
also fails locally. Tests and the demo switch it to answer 500 (`fail_with`) or to stop listening on
its port (`go_down`, connection refused) and back (`come_up`, same port, same URL).

Written on the standard library's `http.server` because it only needs to accept one POST route and
keep what it received; a web framework would add a dependency for nothing.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from company_activity_local.services.processes import LOOPBACK, free_port


@dataclass(frozen=True)
class CaughtMessage:
    """One accepted webhook POST."""

    received_at: datetime
    path: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The message text, or the text of its blocks when it only has blocks."""
        if isinstance(self.body.get("text"), str):
            return str(self.body["text"])
        return json.dumps(self.body.get("blocks", ""), ensure_ascii=False)


class SlackCatcher:
    """`with SlackCatcher() as slack: slack.url` is a webhook URL on a free loopback port."""

    def __init__(self, on_message: Callable[[CaughtMessage], None] | None = None) -> None:
        self.port = free_port()
        # Slack webhook URLs carry their secret in the path; so does this one, so that a leak of the
        # URL into a log is as visible in tests as it would be in production.
        self.path = f"/services/T0LOCAL/B0LOCAL/{secrets.token_hex(12)}"
        self.on_message = on_message
        self._messages: list[CaughtMessage] = []
        self._rejected: list[tuple[int, str]] = []
        self._requests = 0
        self._status = 200
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{self.path}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self) -> SlackCatcher:
        if self._server is None:
            self._server = ThreadingHTTPServer((LOOPBACK, self.port), self._handler_class())
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="slack-catcher", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def go_down(self) -> None:
        """Stop listening: posts get `connection refused` until `come_up()`."""
        self.stop()

    def come_up(self) -> None:
        self.start()

    def fail_with(self, status: int) -> None:
        """Answer every following POST with this status (500: Slack is broken); 200 restores."""
        with self._lock:
            self._status = status

    def __enter__(self) -> SlackCatcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what was received ----------------------------------------------------------------------------
    @property
    def messages(self) -> list[CaughtMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def requests(self) -> int:
        """Every POST that reached the server, accepted or not."""
        with self._lock:
            return self._requests

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """(status, reason) of every POST not accepted (bad payload or a forced failure)."""
        with self._lock:
            return list(self._rejected)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._rejected.clear()
            self._requests = 0

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[CaughtMessage]:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return list(self._messages)

    # -- the HTTP side --------------------------------------------------------------------------------
    def _receive(self, path: str, raw: bytes) -> tuple[int, str]:
        with self._lock:
            self._requests += 1
            forced = self._status
        if path != self.path:
            return self._reject(404, "no_service")
        if forced != 200:
            return self._reject(forced, "forced_failure")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._reject(400, "invalid_payload")
        if not isinstance(body, dict):
            return self._reject(400, "invalid_payload")
        if not body.get("text") and not body.get("blocks"):
            return self._reject(400, "no_text")
        message = CaughtMessage(datetime.now(UTC), path, body)
        with self._lock:
            self._messages.append(message)
            self._lock.notify_all()
        if self.on_message is not None:
            self.on_message(message)
        return 200, "ok"

    def _reject(self, status: int, reason: str) -> tuple[int, str]:
        with self._lock:
            self._rejected.append((status, reason))
        return status, reason

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, text = catcher._receive(self.path, self.rfile.read(length))
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # the URL path is a secret: no access log
                return

        return Handler
