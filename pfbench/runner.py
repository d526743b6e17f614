"""Run the benchmark suites, one pytest subprocess each, into a run folder that is never overwritten.

Run folder (``reports/<run-id>/``)::

    config.json  env.json  benchmarks/<suite>.json  rows/<suite>.jsonl  logs/<suite>.log
    status/<suite>.json  results.parquet  results.csv  report.md  report.html  plots/*.png
    benchmark_storage/<machine-id>/NNNN_<suite>.json   (pytest-benchmark storage: `pytest-benchmark compare`)

Every suite gets the run's config.json (``--pf-config`` / $PFBENCH_CONFIG), never just a preset name, so a
resume and the report measure and show what the run was started with (environment overrides included).

A suite that fails is recorded and the others still run; ``--resume`` reruns only the suites whose
status is not ``passed`` (an earlier attempt's files are moved to ``attempts/`` first, never deleted).
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pfbench
from pfbench.cli_args import atomic_write_text
from pfbench.config import Preset, get_preset
from pfbench.benchmarks import suite_files
from pfbench.results import read_json, utc_now_iso

SUITE_FILES = suite_files()  # the one suite map: pfbench/benchmarks' registry
DEFAULT_SUITES = tuple(SUITE_FILES)
SUITES_DIR_ENV = "PFBENCH_SUITES_DIR"
STATUS_BY_EXIT = {0: "passed", 1: "failed", 5: "skipped"}  # anything else: error (usage, internal, timeout)
INTERRUPTED_EXIT = 130

Echo = Callable[[str], None]


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


def git_commit(repo: Path) -> str:
    """`git rev-parse --short HEAD` of ``repo`` (plus '-dirty' when tracked files changed), '' without git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10)
        if sha.returncode != 0:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def environment_manifest(device: str, dtype: str) -> dict:
    """pfbench.hardware.machine_info(device, dtype) (or a minimal fallback) plus package versions and env flags."""
    try:
        from pfbench.hardware import machine_info  # optional: the fallback keeps runs going without it
        info = {"source": "pfbench.hardware.machine_info", **machine_info(device, dtype)}
    except Exception as err:  # import error or a broken probe must not lose the run
        info = minimal_manifest(device, dtype)
        info["machine_info_error"] = f"{type(err).__name__}: {err}"
    info["versions"] = package_versions()
    info["env_flags"] = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(_ENV_FLAG_PREFIXES)}
    info["argv"] = sys.argv
    return info


_ENV_FLAG_PREFIXES = ("CUDA_", "OMP_", "MKL_", "PYTORCH_", "TORCH_", "HF_", "NVIDIA_", "PFBENCH_", "CUBLAS_")


def package_versions() -> dict:
    """Installed versions of the packages that shape the numbers (None when absent)."""
    from importlib import metadata

    versions = {}
    for dist in ("pfbench", "torch", "torchvision", "numpy", "pandas", "pytest", "pytest-benchmark",
                 "matplotlib", "torch-fidelity", "opencv-python-headless", "nvidia-ml-py"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def minimal_manifest(device: str, dtype: str) -> dict:
    """Platform and device facts without pfbench.hardware."""
    info = {
        "source": "pfbench.runner.minimal_manifest", "device": device, "dtype": dtype,
        "python_version": platform.python_version(), "platform": platform.platform(),
        "cpu_count_logical": os.cpu_count(),
    }
    try:
        import torch

        info["torch_version"] = torch.__version__
        info["torch_num_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu_name"] = torch.cuda.get_device_name(0)
            info["cuda_version"] = torch.version.cuda
    except Exception as err:  # torch absent or broken: say so, keep going
        info["torch_error"] = f"{type(err).__name__}: {err}"
    return info


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
    from pfbench.config import preset_from_dict

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


def suite_command(spec: RunSpec, suite: str, suite_file: Path) -> list[str]:
    """The pytest command line of one suite (the suites/conftest.py contract): the run's config.json, device and
    folder; pytest-benchmark JSON for the tidy table, and a save into the run's pytest-benchmark storage."""
    run_dir = spec.run_dir.resolve()
    return [sys.executable, "-m", "pytest", str(suite_file), "-q", "-rfEs", "-p", "no:cacheprovider",
            "--pf-config", str(run_dir / "config.json"), "--pf-preset", spec.preset.name,
            "--pf-device", spec.device, "--pf-run-dir", str(run_dir),
            "--benchmark-json", str(run_dir / "benchmarks" / f"{suite}.json"),
            f"--benchmark-storage=file://{run_dir / BENCHMARK_STORAGE}", f"--benchmark-save={suite}",
            "--benchmark-columns=median,iqr,rounds"]


BENCHMARK_STORAGE = "benchmark_storage"  # the run's pytest-benchmark storage folder


def suite_env(spec: RunSpec, suite: str) -> dict:
    """The child's environment: run folder, suite, seed, and pfbench importable.

    pytest-xdist's worker variables are dropped: pytest-benchmark reads PYTEST_XDIST_WORKER and disables every
    benchmark, so a run started from inside an xdist worker (the test suite on both cores) would time nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    package_root = str(Path(pfbench.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("COLUMNS", "200")  # pytest sizes its summary lines to the terminal: keep reasons whole
    env.update(PFBENCH_RUN_DIR=str(spec.run_dir.resolve()), PFBENCH_SUITE=suite, PFBENCH_SEED=str(spec.seed),
               PFBENCH_PRESET=spec.preset.name, PFBENCH_DEVICE=spec.device,
               PFBENCH_CONFIG=str(spec.run_dir.resolve() / "config.json"))
    if spec.profile:
        env["PFBENCH_PROFILE"] = "1"
    return env


def run_suite(spec: RunSpec, suite: str) -> SuiteStatus:
    """Run one suite in a pytest subprocess, log to logs/<suite>.log, write status/<suite>.json.

    KeyboardInterrupt stops the child, records status ``interrupted`` and is re-raised.
    """
    run_dir = spec.run_dir
    for sub in ("logs", "benchmarks", "rows", "status"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    log_rel = f"logs/{suite}.log"
    started, t0 = utc_now_iso(), time.monotonic()

    def finish(status: str, code: int | None, note: str) -> SuiteStatus:
        result = SuiteStatus(suite, status, code, round(time.monotonic() - t0, 3), started, utc_now_iso(),
                             log_rel, note)
        result.write(run_dir)
        return result

    suite_file = spec.suites_dir / SUITE_FILES[suite]
    if not suite_file.exists():
        (run_dir / log_rel).write_text(f"{suite_file} not found\n", encoding="utf-8")
        return finish("skipped", None, "suite file not present")
    cmd = suite_command(spec, suite, suite_file)
    with open(run_dir / log_rel, "w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=spec.repo_root, env=suite_env(spec, suite), stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=spec.timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            return finish("error", None, f"timed out after {spec.timeout_s:g} s; raise --timeout-s or use a "
                                         f"smaller --preset")
        except KeyboardInterrupt:
            _stop(proc)
            finish("interrupted", None, "interrupted by the user (Ctrl-C)")
            raise
    status = STATUS_BY_EXIT.get(code, "error")
    note = summarize_log((run_dir / log_rel).read_text(encoding="utf-8", errors="replace"), status)
    if status == "passed" and re.search(r"\d+ skipped", note) and not re.search(r"\d+ passed", note):
        status = "skipped"  # every test skipped: nothing asked was measured
    return finish(status, code, note)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed|skipped|error|errors|deselected|xfailed|xpassed|warnings?)"
                      r"\b.*?in [\d.]+s.*?)\s*=*$")


def summarize_log(text: str, status: str) -> str:
    """pytest's final summary line, plus the first FAILED/ERROR line when the suite did not pass."""
    lines = text.splitlines()
    summary = next((m.group(1) for line in reversed(lines) if (m := _SUMMARY.match(line.strip()))), "")
    if status == "skipped" and not summary:
        summary = "no tests collected"
    if status in ("failed", "error"):
        first = next((ln.strip() for ln in lines if ln.startswith(("FAILED", "ERROR"))), "")
        error = next((ln[1:].strip() for ln in lines if ln.startswith("E ") and ln[1:].strip()), "")
        if error and (not first or first.endswith("...")):  # pytest shortens the summary line: use the E line
            first = (first.split(" - ")[0] + " - " if first else "") + error
        if not first and not summary:
            first = lines[-1].strip() if lines else "no output"
        return "; ".join(x for x in (first[:300], summary) if x)
    return summary


def run_suites(spec: RunSpec, suites: list[str], echo: Echo = print) -> tuple[list[SuiteStatus], bool]:
    """Run ``suites`` one after another with a progress line each; returns (statuses, interrupted)."""
    statuses: list[SuiteStatus] = []
    width = max((len(s) for s in suites), default=0)
    total_t0 = time.monotonic()
    for i, suite in enumerate(suites, start=1):
        prefix = f"[{i}/{len(suites)}] {suite:<{width}}"
        echo(f"{prefix}  running ... (log: {spec.run_dir / 'logs' / (suite + '.log')})")
        set_aside_attempt(spec.run_dir, suite)
        try:
            st = run_suite(spec, suite)
        except KeyboardInterrupt:
            echo(f"{prefix}  interrupted")
            return statuses, True
        statuses.append(st)
        echo(f"{prefix}  {st.status:<8} {st.duration_s:7.1f} s  {st.note}")
    echo(f"suites done in {time.monotonic() - total_t0:.1f} s")
    return statuses, False


def finish_run(run_dir: Path, echo: Echo = print, report: bool = True) -> bool:
    """Collect the tidy table and write results.parquet/csv and (with ``report``) the report.

    Errors are reported, not raised; returns False when the table or the report could not be written
    (a table smaller than the one already there is never written: see results.check_not_shrinking).
    """
    from pfbench.report import write_report
    from pfbench.results import check_not_shrinking, collect_run, write_results

    try:
        df = collect_run(run_dir)
        check_not_shrinking(df, run_dir)
        parquet, csv = write_results(df, run_dir)
        echo(f"results: {len(df)} rows -> {parquet} , {csv}")
        if report:
            md, html = write_report(run_dir, df)
            echo(f"report: {md} , {html}")
        return True
    except Exception as err:  # keep the raw files usable; tell the user how to retry
        echo(f"could not build results/report: {type(err).__name__}: {err} "
             f"(raw files are kept; retry with `pfbench report {run_dir}`)")
        return False
