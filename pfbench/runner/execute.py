"""Run the benchmark suites, one pytest process each (``pfbench.runner.launch``), and collect the run.

Every suite gets the run's config.json (``--pf-config`` / $PFBENCH_CONFIG), never just a preset name, so a resume
and the report measure and show what the run was started with. A suite that fails is recorded and the others still
run.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pfbench
from pfbench.measure.machine_load import snapshot, window
from pfbench.results.schema import utc_now_iso
from pfbench.runner.catalog import SUITE_FILES
from pfbench.runner.folder import RunSpec, SuiteStatus, set_aside_attempt
from pfbench.runner.launch import start_suite

STATUS_BY_EXIT = {0: "passed", 1: "failed", 5: "skipped"}  # anything else: error (usage, internal, timeout)

Echo = Callable[[str], None]

# pytest plugins no suite uses, blocked in each suite's process: importing hypothesis alone costs ~1.3 s a suite
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:xdist", "-p", "no:xdist.looponfail")


def suite_command(spec: RunSpec, suite: str, suite_file: Path) -> list[str]:
    """The pytest command line of one suite (the suites/conftest.py contract): the run's config.json, device and
    folder; pytest-benchmark JSON for the tidy table, and a save into the run's pytest-benchmark storage."""
    run_dir = spec.run_dir.resolve()
    return [sys.executable, "-m", "pytest", str(suite_file), "-q", "-rfEs", "-p", "no:cacheprovider",
            *UNUSED_PLUGINS,
            "--pf-config", str(run_dir / "config.json"), "--pf-preset", spec.preset.name,
            "--pf-device", spec.device, "--pf-run-dir", str(run_dir),
            "--benchmark-json", str(run_dir / "benchmarks" / f"{suite}.json"),
            f"--benchmark-storage=file://{run_dir / BENCHMARK_STORAGE}", f"--benchmark-save={suite}",
            "--benchmark-columns=median,iqr,rounds", "--durations=15"]


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
    """Run one suite in a pytest process of its own, log to logs/<suite>.log, write status/<suite>.json.

    KeyboardInterrupt stops the child, records status ``interrupted`` and is re-raised.
    """
    run_dir = spec.run_dir
    for sub in ("logs", "benchmarks", "rows", "status"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    log_rel = f"logs/{suite}.log"
    started, t0 = utc_now_iso(), time.monotonic()

    before = snapshot()  # the suite's process is waited for before the window closes: its CPU counts as the run's

    def finish(status: str, code: int | None, note: str) -> SuiteStatus:
        machine = window(before, snapshot())
        result = SuiteStatus(suite, status, code, round(time.monotonic() - t0, 3), started, utc_now_iso(),
                             log_rel, note, load_average=machine.load_average,
                             others_cpu_share=machine.others_share, steal_share=machine.steal_share,
                             cores=machine.cores)
        result.write(run_dir)
        return result

    suite_file = spec.suites_dir / SUITE_FILES[suite]
    if not suite_file.exists():
        (run_dir / log_rel).write_text(f"{suite_file} not found\n", encoding="utf-8")
        return finish("skipped", None, "suite file not present")
    cmd = suite_command(spec, suite, suite_file)
    (run_dir / log_rel).write_text("$ " + " ".join(cmd) + "\n", encoding="utf-8")
    proc = start_suite(cmd, cwd=spec.repo_root, env=suite_env(spec, suite), log_path=run_dir / log_rel)
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


def _stop(proc) -> None:
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
    from pfbench.report.build import write_report
    from pfbench.results.store import check_not_shrinking, collect_run, write_results

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
