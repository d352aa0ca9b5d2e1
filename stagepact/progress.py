"""How a long operation tells how far it is: `report(label, done, total)`, where `total` is
None when it is not known in advance. The domain calls it; the command line decides what
it becomes (`cli.terminal_progress`: a line that updates itself on a terminal, nothing
at all in cron or a pipe)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, "int | None"], None]


def silent(label: str, done: int, total: int | None = None) -> None:
    """The default: nobody is watching."""
