"""Files pfbench writes and reads: one atomic writer (temporary file, rename, optional fsync), JSON objects, and
data files of installed packages (found through their metadata, without importing them)."""
from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path, *, durable: bool = False, single_writer: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` when the block succeeds.

    On an exception (or Ctrl-C) the temporary file is removed and ``path`` is left as it was. ``durable``: fsync
    the file before the rename and the folder after it, so a power cut leaves the old or the new file, never a torn
    one. ``single_writer``: the temporary file is ``NAME.tmp`` (one writer per file; a killed write leaves it, and
    the next write replaces it) instead of a unique name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if single_writer:
        tmp = path.with_name(path.name + ".tmp")
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def fsync_path(path: str | Path) -> None:
    """fsync a file or a folder (a folder's entry list); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def package_file(distribution: str, suffix: str) -> Path | None:
    """The installed file of ``distribution`` whose path ends with ``suffix`` (no import of the package)."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith(suffix):
            path = Path(f.locate())
            if path.is_file():
                return path
    return None


def read_json(path: Path) -> dict:
    """Read a JSON object, {} when the file is absent."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
