"""Progress bars of the commands that take more than a few seconds: tqdm on stderr, so stdout (a table, or the
one JSON object of --json) stays clean; off when stderr is not a terminal or the command got --no-progress."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def bar(iterable: Iterable[T] | None = None, *, desc: str, enabled: bool = True, total: int | None = None,
        unit: str = "it"):
    """A tqdm bar over ``iterable`` on stderr, left off the screen when done; disabled unless ``enabled`` and
    stderr is a terminal (tqdm's ``disable=None``)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, leave=False,
                disable=None if enabled else True, dynamic_ncols=True)


def tty_progress(enabled: bool = True) -> bool:
    """True when a bar would show: asked for and stderr is a terminal (libraries with a verbose flag take this)."""
    return enabled and sys.stderr.isatty()
