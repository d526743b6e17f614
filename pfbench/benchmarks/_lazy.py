"""A section or verdict function named by "module:function", imported only when the report calls it.

Declarations stay cheap to import (results.py and `pfbench compare` read them without matplotlib)."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy(target: str) -> Callable[[Any], Any]:
    """A callable that imports ``module:function`` on first call and forwards its argument."""
    module, _, name = target.partition(":")

    def call(ctx: Any) -> Any:
        return getattr(importlib.import_module(module), name)(ctx)

    call.__qualname__ = call.__name__ = f"lazy({target})"
    return call
