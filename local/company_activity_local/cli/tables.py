"""Tables that fit the terminal, 80 columns included, for `show` and the backfill summary.

Rich shrinks every column of a table that is too wide, cutting ids and headers ("lo", "in") and squeezing
free text to nothing. Here each column is one of three kinds: whole (ids, dates, numbers: they are copied
into the next command), text (wraps in what is left, at least MIN_TEXT characters) or optional (left out,
in order, with a caption saying so, while the rest would not fit). Written by hand because rich has no
column priorities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

MIN_TEXT = 12


@dataclass(frozen=True)
class Column:
    header: str  # may hold "\n" for a two-line header
    text: bool = False  # free text: wraps
    optional: bool = False  # left out first when the table does not fit
    right: bool = False  # numbers


def layout(columns: Sequence[Column], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """The width of each column (0: left out) so that the table fits `width`. Cells are rich markup."""
    natural = [max([len(line) for line in c.header.split("\n")]
                   + [Text.from_markup(row[i]).cell_len for row in cells]) for i, c in enumerate(columns)]
    dropped: set[int] = set()
    while True:
        kept = [i for i in range(len(columns)) if i not in dropped]
        fixed = sum(natural[i] for i in kept if not columns[i].text) + 2 * (len(kept) - 1)
        text = [i for i in kept if columns[i].text]
        room = width - fixed
        if room >= sum(min(natural[i], MIN_TEXT) for i in text):
            break
        optional = [i for i in kept if columns[i].optional]
        if not optional:
            break  # nothing more to leave out: the terminal wraps what is too wide
        dropped.add(optional[0])
    widths = [0 if i in dropped else natural[i] for i in range(len(columns))]
    # Share the room among the text columns: each gets its natural width if it can, else an equal share.
    pending = sorted(text, key=lambda i: natural[i])
    while pending:
        share = max(MIN_TEXT, room // len(pending))
        i = pending.pop(0)
        widths[i] = min(natural[i], share)
        room -= widths[i]
    return widths


def fitted_table(title: str, columns: Sequence[Column], cells: Sequence[Sequence[str]], console: Console,
                 more: str = "") -> Table:
    """A borderless table of `cells` (rich markup) that fits the console; `more` says where the left-out
    columns can be seen (e.g. "--json has every column")."""
    widths = layout(columns, cells, console.width)
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")
    kept = [i for i, width in enumerate(widths) if width]
    for i in kept:
        column = columns[i]
        table.add_column(column.header, width=widths[i], no_wrap=not column.text, overflow="fold",
                         justify="right" if column.right else "left")
    left_out = [columns[i].header.replace("\n", " ") for i, width in enumerate(widths) if not width]
    if left_out:
        table.caption = f"{', '.join(left_out)}: left out at {console.width} columns" + (f" ({more})" if more else "")
        table.caption_justify = "left"
    for row in cells:
        table.add_row(*(row[i] for i in kept))
    return table
