"""Tables that fit a terminal: ids and paths are folded onto more lines, never cut."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table


def fold_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A rich table whose cells wrap (long ids and paths fold) instead of being truncated."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=False)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table
