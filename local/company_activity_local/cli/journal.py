"""What a running command has changed so far, for the one line `main` prints when Ctrl-C stops it.

A command that writes keeps its journal current: `journal.note(...)` at each step that commits something
("3 of 10 dates committed (2026-03-01..2026-03-03); rerunning the same command resumes: ..."). Ctrl-C then
ends every command the same way, in `main`: that line on stderr, exit 130, no traceback.
"""

from __future__ import annotations

NOTHING_CHANGED = "nothing was changed"


class Journal:
    def __init__(self) -> None:
        self._line = NOTHING_CHANGED

    def note(self, line: str) -> None:
        """What the interruption line says from now on: what is committed or loaded, and how to go on."""
        self._line = line

    def line(self) -> str:
        return self._line
