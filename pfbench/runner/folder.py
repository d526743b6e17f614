"""The run folder (``reports/<run-id>/``), never overwritten::

    config.json  env.json  benchmarks/<suite>.json  rows/<suite>.jsonl  logs/<suite>.log
    status/<suite>.json  results.parquet  results.csv  report.md  report.html  plots/*.png
    benchmark_storage/<machine-id>/NNNN_<suite>.json   (pytest-benchmark storage: `pytest-benchmark compare`)

``--resume`` reruns only the suites whose status is not ``passed`` (an earlier attempt's files are moved to
``attempts/`` first, never deleted).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pfbench
from pfbench.core.config import Preset
from pfbench.core.files import atomic_write_text, read_json
from pfbench.results.schema import utc_now_iso
from pfbench.runner.catalog import DEFAULT_SUITES, default_suites_dir
from pfbench.runner.manifest import environment_manifest, git_commit


def new_run_id(preset_name: str, now: datetime | None = None) -> str:
    """UTC timestamp + preset, e.g. 20261124T071500Z-cpu."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{preset_name}"


def claim_run_dir(out: Path | None, run_id: str, reports_root: Path | None = None) -> Path:
    """Create the run folder; refuse an existing non-empty ``out``; without ``out`` pick a fresh reports/<run-id>."""
    if out is not None:
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"{out} already exists and is not empty: pfbench never overwrites a run; choose another "
                             f"--out, or continue that run with `pfbench run --resume {out}`")
        out.mkdir(parents=True, exist_ok=True)
        return out
    root = Path(reports_root) if reports_root is not None else Path.cwd() / "reports"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (run_id if n == 1 else f"{run_id}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ValueError(f"could not find a free run folder under {root}: pass --out")


@dataclass(frozen=True)
class RunSpec:
    """What a run measures and where it writes."""

    run_dir: Path
    run_id: str
    preset: Preset
    suites: tuple[str, ...]
    device: str
    seed: int = 0
    suites_dir: Path = field(default_factory=default_suites_dir)
    timeout_s: float | None = None
    profile: bool = False  # --profile: suites that support it write torch.profiler traces under profile/
    overrides: dict = field(default_factory=dict)  # preset fields set from the environment (already in ``preset``)

    @property
    def dtype(self) -> str:
        return self.preset.dtype

    @property
    def repo_root(self) -> Path:
        """Where pytest runs: the folder holding suites/ (and suites/conftest.py)."""
        return self.suites_dir.resolve().parent


@dataclass
class SuiteStatus:
    """The outcome of one suite, as stored in status/<suite>.json."""

    suite: str
    status: str            # passed | failed | error | skipped | interrupted
    exit_code: int | None
    duration_s: float
    started: str
    finished: str
    log: str
    note: str = ""
    # the highest 1-minute load average seen at the suite's start and end, and the CPUs this process may use:
    # `pfbench compare` calls a timing inconclusive when the load exceeded the CPUs (other processes competed)
    load_average_max: float | None = None
    cpus: int | None = None

    def write(self, run_dir: Path) -> Path:
        path = run_dir / "status" / f"{self.suite}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path


def write_run_files(spec: RunSpec, cli_args: dict | None = None) -> None:
    """config.json (resolved preset, suites, args, seed, commit) and env.json (environment manifest)."""
    config = {
        "run_id": spec.run_id, "preset": spec.preset.to_dict(), "suites": list(spec.suites),
        "device": spec.device, "dtype": spec.dtype, "seed": spec.seed, "commit": git_commit(spec.repo_root),
        "started": utc_now_iso(), "suites_dir": str(spec.suites_dir), "timeout_s": spec.timeout_s,
        "pfbench_version": getattr(pfbench, "__version__", ""), "args": _jsonable(cli_args or {}),
        "profile": spec.profile, "overrides": dict(spec.overrides),
    }
    (spec.run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    env = environment_manifest(spec.device, spec.dtype)
    (spec.run_dir / "env.json").write_text(json.dumps(_jsonable(env), indent=2) + "\n", encoding="utf-8")


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def load_run_spec(run_dir: Path, suites_dir: Path | None = None) -> RunSpec:
    """Rebuild the RunSpec of an earlier run from its config.json (for --resume)."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json")
    if not config:
        raise FileNotFoundError(f"{run_dir / 'config.json'} not found: --resume needs a folder written by "
                                f"`pfbench run` (check the path)")
    from pfbench.core.config import preset_from_dict

    preset = preset_from_dict(config["preset"])  # what the run was started with, not today's preset
    return RunSpec(
        run_dir=run_dir, run_id=config.get("run_id", run_dir.name), preset=preset,
        suites=tuple(config.get("suites", DEFAULT_SUITES)), device=config.get("device", preset.device),
        seed=int(config.get("seed", 0)),
        suites_dir=Path(suites_dir) if suites_dir else Path(config.get("suites_dir") or default_suites_dir()),
        timeout_s=config.get("timeout_s"), profile=bool(config.get("profile", False)),
        overrides=dict(config.get("overrides") or {}),
    )


def record_resume(spec: RunSpec, suites: tuple[str, ...], timeout_s: float | None = None,
                  suites_dir: Path | None = None) -> RunSpec:
    """The spec a resume runs with (new suites joined to the run's, a new timeout and suites folder), recorded in
    config.json ("suites", "timeout_s", "suites_dir" updated; each resume appended to "resumes")."""
    merged = tuple(dict.fromkeys(tuple(spec.suites) + tuple(suites)))
    new = replace(spec, suites=merged, timeout_s=spec.timeout_s if timeout_s is None else timeout_s,
                  suites_dir=Path(suites_dir) if suites_dir else spec.suites_dir)
    path = spec.run_dir / "config.json"
    config = read_json(path)
    config.update(suites=list(new.suites), timeout_s=new.timeout_s, suites_dir=str(new.suites_dir))
    config.setdefault("resumes", []).append({"time": utc_now_iso(), "suites": list(suites),
                                             "timeout_s": new.timeout_s, "suites_dir": str(new.suites_dir)})
    atomic_write_text(path, json.dumps(config, indent=2) + "\n")
    return new


def pending_suites(run_dir: Path, suites: tuple[str, ...]) -> list[str]:
    """Suites without a ``passed`` status file."""
    return [s for s in suites if read_json(run_dir / "status" / f"{s}.json").get("status") != "passed"]


def set_aside_attempt(run_dir: Path, suite: str) -> Path | None:
    """Move an earlier attempt's rows, benchmark JSON, log and status to attempts/<suite>-<n>/ (kept, not deleted)."""
    files = [run_dir / "rows" / f"{suite}.jsonl", run_dir / "benchmarks" / f"{suite}.json",
             run_dir / "logs" / f"{suite}.log", run_dir / "status" / f"{suite}.json"]
    present = [p for p in files if p.exists()]
    if not present:
        return None
    n = 1
    while (run_dir / "attempts" / f"{suite}-{n}").exists():
        n += 1
    dest = run_dir / "attempts" / f"{suite}-{n}"
    dest.mkdir(parents=True)
    for path in present:
        shutil.move(str(path), dest / f"{path.parent.name}-{path.name}")
    return dest
