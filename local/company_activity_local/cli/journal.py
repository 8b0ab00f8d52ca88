"""What a running command has changed so far, for the one line `main` prints when Ctrl-C stops it.

A command that writes keeps its journal current: `journal.note(...)` at each step that commits something
("3 of 10 dates committed (2026-03-01..2026-03-03); rerunning the same command resumes: ..."). Ctrl-C then
ends every command the same way, in `main`: that line on stderr, exit 130, no traceback.

Python delivers Ctrl-C as a KeyboardInterrupt in whatever code runs at that moment. When that is a
finalizer (urllib3 closing a pooled socket during garbage collection, for one), Python only prints
"Exception ignored in ..." and the command carries on to the end. So `main` routes SIGINT through
`on_sigint`, which remembers it, and the next `note` raises it again: a command stops at its next step
whatever swallowed the first one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

NOTHING_CHANGED = "nothing was changed"


class Journal:
    def __init__(self) -> None:
        self._line = NOTHING_CHANGED
        self.interrupted = False
        self.fallback_hook: Callable[[Any], object] = sys.__unraisablehook__

    def note(self, line: str) -> None:
        """What the interruption line says from now on: what is committed or loaded, and how to go on."""
        self._line = line
        if self.interrupted:
            raise KeyboardInterrupt

    def line(self) -> str:
        return self._line

    def on_sigint(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT handler `main` installs: remember the interrupt, then raise it where the code is."""
        self.interrupted = True
        raise KeyboardInterrupt

    def unraisable_hook(self, unraisable: Any) -> None:
        """sys.unraisablehook: an interrupt swallowed by a finalizer is not a traceback on the user's screen."""
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt) and self.interrupted):
            self.fallback_hook(unraisable)
