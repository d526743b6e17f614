"""Typed argument parsers shared by every `pfbench` command.

Validate at the edge, once: each parser turns text into a checked value or raises ``argparse.ArgumentTypeError``
with a message that says what is wrong and what to pass instead; argparse prefixes it with the argument's name
(``argument --steps: ...``) and `pfbench` prints it as one line with exit status 2. Outputs are never overwritten
without ``--force`` (:func:`check_new_file`).
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable

from pfbench.core.errors import UsageError

SEED_MAX = 2 ** 32 - 1   # numpy's and torch's common seed range
DTYPES = ("float32", "bfloat16", "float16")


def _fail(message: str):
    raise argparse.ArgumentTypeError(message)


def int_range(lo: int | None = None, hi: int | None = None, what: str = "an integer") -> Callable[[str], int]:
    """A parser of integers in [lo, hi] (either bound optional)."""

    def parse(text: str) -> int:
        try:
            value = int(str(text).strip())
        except ValueError:
            _fail(f"expected {what}, got {text!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            bounds = f">= {lo}" if hi is None else (f"<= {hi}" if lo is None else f"between {lo} and {hi}")
            _fail(f"expected {what} {bounds}, got {value}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                what: str = "a number") -> Callable[[str], float]:
    """A parser of finite floats in [lo, hi] ((lo, hi] with ``lo_open``); NaN and inf are refused."""

    def parse(text: str) -> float:
        try:
            value = float(str(text).strip())
        except ValueError:
            _fail(f"expected {what}, got {text!r}")
        if not math.isfinite(value):
            _fail(f"expected a finite {what.removeprefix('a ')}, got {text!r}")
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        if low_bad or hi is not None and value > hi:
            left = "" if lo is None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
            right = "" if hi is None else f"<= {hi:g}"
            _fail(f"expected {what} {' and '.join(x for x in (left, right) if x)}, got {value:g}")
        return value

    parse.__name__ = what.replace(" ", "_")
    return parse


positive_int = int_range(1, 10 ** 9, what="a positive integer")
non_negative_int = int_range(0, 10 ** 9, what="a non-negative integer")
seed = int_range(0, SEED_MAX, what="a seed")
positive_float = float_range(0.0, 1e12, lo_open=True, what="a positive number")
probability = float_range(0.0, 1.0, what="a probability")


def size_wxh(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' (pixels, each 1..65536) -> (width, height)."""
    parts = str(text).lower().split("x")
    try:
        w, h = (int(v) for v in parts)
    except ValueError:
        _fail(f"expected WIDTHxHEIGHT in pixels such as 1280x768, got {text!r}")
    if not (1 <= w <= 65536 and 1 <= h <= 65536):
        _fail(f"expected a positive WIDTHxHEIGHT (each side 1..65536), got {text!r}")
    return w, h


def resolution(text: str) -> tuple[int, int]:
    """'384p' | '768p' | 'WIDTHxHEIGHT' -> (width, height) in pixels."""
    from pfbench.core.config import RESOLUTIONS

    if str(text) in RESOLUTIONS:
        return RESOLUTIONS[str(text)]
    try:
        return size_wxh(text)
    except argparse.ArgumentTypeError:
        _fail(f"unknown resolution {text!r}: use one of {', '.join(sorted(RESOLUTIONS))} or a positive "
              "WIDTHxHEIGHT in pixels, e.g. 1280x768")


def check_divisible(width: int, height: int, unit: int, option: str, why: str) -> None:
    """Refuse a size whose sides are not multiples of ``unit`` (naming the nearest valid size)."""
    if width % unit or height % unit:
        near_w, near_h = max(unit, round(width / unit) * unit), max(unit, round(height / unit) * unit)
        raise UsageError(f"{option} {width}x{height}: both sides must be divisible by {unit} ({why}); "
                         f"use {option} {near_w}x{near_h}")


def device(text: str) -> str:
    """'cpu' | 'cuda' | 'cuda:N' | 'mps' that exists on this machine (checked with torch)."""
    import torch

    name = str(text).strip()
    kind, _, index = name.partition(":")
    if kind == "cpu" and not index:
        return name
    if kind == "cuda":
        if not torch.cuda.is_available():
            _fail(f"{name}: CUDA is not available on this machine; use --device cpu")
        count = torch.cuda.device_count()
        if index and (not index.isdigit() or int(index) >= count):
            _fail(f"{name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return name
    if kind == "mps" and not index:
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            _fail("mps: Apple MPS is not available on this machine; use --device cpu")
        return name
    _fail(f"unknown device {name!r}: use cpu, cuda or cuda:N")


def dtype(text: str) -> str:
    """A dtype name pfbench measures in."""
    if text not in DTYPES:
        _fail(f"unknown dtype {text!r}: choose one of {', '.join(DTYPES)}")
    return text


def existing_path(text: str) -> Path:
    """A file or folder that exists."""
    path = Path(text)
    if not path.exists():
        _fail(f"{text}: no such file or folder (check the path)")
    return path


def existing_path_str(text: str) -> str:
    """A file or folder that exists, kept as the text given (for APIs that take str paths)."""
    existing_path(text)
    return str(text)


def existing_dir(text: str) -> Path:
    """A folder that exists."""
    path = Path(text)
    if not path.is_dir():
        _fail(f"{text}: {'is a file, not a folder' if path.exists() else 'no such folder'} (check the path)")
    return path


def existing_file(text: str) -> Path:
    """A file that exists."""
    path = Path(text)
    if not path.is_file():
        _fail(f"{text}: {'is a folder, not a file' if path.exists() else 'no such file'} (check the path)")
    return path


def add_force(p: argparse.ArgumentParser, what: str = "output files") -> None:
    """The shared --force flag: overwrite what this command would otherwise refuse to replace."""
    p.add_argument("--force", action="store_true", help=f"overwrite existing {what} (default: refuse)")


def check_new_file(path: str | Path, option: str = "--out", force: bool = False) -> Path:
    """Refuse ``path`` when it is a folder, or an existing file without ``force``; its folder must be creatable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder: give a file path inside it, e.g. {path / 'out'}")
    if path.exists() and not force:
        raise UsageError(f"{option} {path} already exists: pfbench never overwrites a file it did not create in "
                         "this call; choose another path or pass --force")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: {parent} is a file, so no folder can be made there; choose another path")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{option} {path}: {parent} is not writable; choose another path")
    return path
