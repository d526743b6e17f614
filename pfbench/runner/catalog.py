"""Which suites exist and where their files are: the runner's one suite map (from pfbench/benchmarks' registry)."""
from __future__ import annotations

import os
from pathlib import Path

import pfbench
from pfbench.benchmarks import suite_files

SUITE_FILES = suite_files()  # the one suite map: pfbench/benchmarks' registry

DEFAULT_SUITES = tuple(SUITE_FILES)

SUITES_DIR_ENV = "PFBENCH_SUITES_DIR"



def default_suites_dir() -> Path:
    """$PFBENCH_SUITES_DIR, else the suites/ folder next to the installed pfbench package."""
    env = os.environ.get(SUITES_DIR_ENV)
    return Path(env) if env else Path(pfbench.__file__).resolve().parents[1] / "suites"



def parse_suites(text: str | None) -> tuple[str, ...]:
    """'tokens,fid' -> ('tokens', 'fid'); None or 'all' -> every suite. Unknown names raise a ValueError."""
    if not text or text.strip() == "all":
        return DEFAULT_SUITES
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SUITE_FILES]
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(unknown)} in --suites: choose from {','.join(SUITE_FILES)}")
    return names



def check_suite_files(suites_dir: Path, suites: tuple[str, ...] | list[str]) -> None:
    """Refuse a suites folder that does not exist or lacks an asked suite's file (before any run folder is made)."""
    suites_dir = Path(suites_dir)
    if not suites_dir.is_dir():
        raise ValueError(f"--suites-dir {suites_dir}: no such folder; point at the repo's suites/ folder or drop "
                         f"--suites-dir (and ${SUITES_DIR_ENV})")
    missing = [s for s in suites if not (suites_dir / SUITE_FILES[s]).is_file()]
    if missing:
        raise ValueError(f"--suites-dir {suites_dir} lacks {', '.join(SUITE_FILES[s] for s in missing)}: "
                         f"choose --suites without {','.join(missing)}, or the folder that holds them")

