"""`pfbench run` with a tiny fake suites folder: failures are contained, runs never overwrite, --resume works."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from pfbench.cli.main import main
from pfbench.core.config import get_preset
from pfbench.runner import catalog, execute, folder

CONFTEST = '''
def pytest_addoption(parser):
    for name in ("--pf-config", "--pf-preset", "--pf-device", "--pf-run-dir"):
        parser.addoption(name, default=None)
'''
PASSING = '''
import os
from pathlib import Path
from pfbench.results.rows import append_rows

def test_rows(request, benchmark):
    run_dir = request.config.getoption("--pf-run-dir")
    assert run_dir == os.environ["PFBENCH_RUN_DIR"]
    with open(Path(__file__).parent / "calls.log", "a") as f:
        f.write("{suite}\\n")
    benchmark.extra_info.update(case="fake", variant="v", max_tokens=7)
    benchmark.pedantic(lambda: None, rounds=2, iterations=1)
    append_rows(run_dir, "{suite}", [dict(case="fake", variant="v", metric="value_s", value=1.5, unit="s",
                                         backend=request.config.getoption("--pf-preset"))])
'''
FAILING = '''
from pathlib import Path

def test_boom():
    with open(Path(__file__).parent / "calls.log", "a") as f:
        f.write("{suite}\\n")
    raise RuntimeError("boom: planted failure")
'''


EMPTY = "# collects no tests: pytest exits 5, the suite is recorded as skipped\n"


def fake_suites(tmp_path: Path, passing=("tokens",), failing=("throughput",), empty=()) -> Path:
    suites = tmp_path / "repo" / "suites"
    suites.mkdir(parents=True)
    (suites / "conftest.py").write_text(CONFTEST)
    for name in passing:
        (suites / catalog.SUITE_FILES[name]).write_text(PASSING.replace("{suite}", name))
    for name in failing:
        (suites / catalog.SUITE_FILES[name]).write_text(FAILING.replace("{suite}", name))
    for name in empty:
        (suites / catalog.SUITE_FILES[name]).write_text(EMPTY)
    return suites


def status(run: Path, suite: str) -> dict:
    return json.loads((run / "status" / f"{suite}.json").read_text())


def calls(suites: Path) -> list[str]:
    log = suites / "calls.log"
    return log.read_text().split() if log.exists() else []


def test_failing_suite_is_reported_and_others_survive(tmp_path, capsys):
    suites = fake_suites(tmp_path, empty=("memory",))
    run = tmp_path / "run"
    code = main(["run", "--preset", "smoke", "--suites", "throughput,tokens,memory", "--out", str(run),
                 "--suites-dir", str(suites)])
    assert code == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "[1/3] throughput" in out and "failed" in out and "--resume" in out
    assert "throughput failed" in captured.err and "memory skipped" in captured.err
    assert status(run, "throughput")["status"] == "failed"
    assert "boom: planted failure" in status(run, "throughput")["note"]
    assert status(run, "tokens")["status"] == "passed"
    assert (status(run, "memory")["status"], status(run, "memory")["note"]) == ("skipped", "no tests collected")
    df = pd.read_parquet(run / "results.parquet")
    tokens = df[df["suite"] == "tokens"]
    assert set(tokens["metric"]) >= {"value_s", "time_s", "max_tokens", "rounds"}
    assert (tokens[tokens["metric"] == "value_s"]["backend"] == "smoke").all()  # --pf-preset reached the suite
    assert (run / "benchmarks" / "tokens.json").exists() and (run / "logs" / "throughput.log").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == json.loads(json.dumps(get_preset("smoke").to_dict())) and config["suites"] == ["throughput", "tokens",
                                                                                       "memory"]
    assert "torch_version" in json.loads((run / "env.json").read_text())
    report = (run / "report.md").read_text()
    assert "boom: planted failure" in report and "no tests collected" in report


def test_same_out_twice_refuses(tmp_path, capsys):
    suites = fake_suites(tmp_path, passing=("memory",), failing=())
    run = tmp_path / "run"
    args = ["run", "--preset", "smoke", "--suites", "memory", "--out", str(run), "--suites-dir", str(suites),
            "--no-report"]
    assert main(args) == 0
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert main(args) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_without_out_each_run_gets_its_own_folder(tmp_path, monkeypatch):
    suites = fake_suites(tmp_path, passing=("memory",), failing=())
    monkeypatch.chdir(tmp_path)
    args = ["run", "--preset", "smoke", "--suites", "memory", "--suites-dir", str(suites), "--no-report"]
    assert main(args) == 0 and main(args) == 0
    runs = sorted((tmp_path / "reports").iterdir())
    assert len(runs) == 2 and all(re.fullmatch(r"\d{8}T\d{6}Z-smoke(-\d+)?", r.name) for r in runs)
    assert all((r / "config.json").exists() for r in runs)


def test_resume_skips_passed_suites(tmp_path, capsys):
    suites = fake_suites(tmp_path)
    run = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--suites", "tokens,throughput", "--out", str(run),
                 "--suites-dir", str(suites), "--no-report"]) == 1
    first_tokens = status(run, "tokens")
    (suites / "test_throughput.py").write_text(PASSING.replace("{suite}", "throughput"))  # fix the suite
    assert main(["run", "--resume", str(run), "--no-report"]) == 0
    assert "skipping passed suite(s) tokens" in capsys.readouterr().out
    assert calls(suites) == ["tokens", "throughput", "throughput"]
    assert status(run, "tokens") == first_tokens            # untouched
    assert status(run, "throughput")["status"] == "passed"
    kept = run / "attempts" / "throughput-1"
    assert "boom" in (kept / "logs-throughput.log").read_text()  # the failed attempt is kept, not overwritten
    df = pd.read_parquet(run / "results.parquet")
    assert set(df["suite"]) == {"tokens", "throughput"}


def test_ctrl_c_records_interrupted_and_stops(tmp_path, monkeypatch):
    suites = fake_suites(tmp_path)

    class InterruptedChild:
        def __init__(self, *args, **kwargs):
            self.terminated = False

        def wait(self, timeout=None):
            if not self.terminated:
                raise KeyboardInterrupt
            return -15

        def terminate(self):
            self.terminated = True

    monkeypatch.setattr(execute, "start_suite", InterruptedChild)
    run = tmp_path / "run"
    run.mkdir()
    spec = folder.RunSpec(run_dir=run, run_id="x", preset=get_preset("smoke"), suites=("tokens", "throughput"),
                          device="cpu", suites_dir=suites)
    lines = []
    statuses, interrupted = execute.run_suites(spec, ["tokens", "throughput"], echo=lines.append)
    assert interrupted and statuses == []
    assert status(run, "tokens")["status"] == "interrupted"
    assert not (run / "status" / "throughput.json").exists()
    assert folder.pending_suites(run, spec.suites) == ["tokens", "throughput"]


def test_suite_command_follows_the_contract(tmp_path):
    spec = folder.RunSpec(run_dir=tmp_path, run_id="x", preset=get_preset("cpu"), suites=("fid",), device="cpu",
                          suites_dir=tmp_path / "suites")
    cmd = execute.suite_command(spec, "fid", spec.suites_dir / "test_fid_convergence.py")
    text = " ".join(cmd)
    assert "-m pytest" in text and "-p no:cacheprovider" in text and "--pf-preset cpu" in text
    assert f"--pf-config {tmp_path.resolve()}/config.json" in text
    assert f"--benchmark-storage=file://{tmp_path.resolve()}/benchmark_storage --benchmark-save=fid" in text
    assert f"--benchmark-json {tmp_path.resolve()}/benchmarks/fid.json" in text
    assert "--benchmark-columns=median,iqr,rounds" in text and f"--pf-run-dir {tmp_path.resolve()}" in text
    assert spec.repo_root == tmp_path.resolve()


def test_unknown_suite_and_resume_errors(tmp_path, capsys):
    assert main(["run", "--suites", "tokens,nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown suite(s) nope" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "missing")]) == 2
    assert "config.json not found" in capsys.readouterr().err


def test_suite_env_drops_xdist_worker_variables(monkeypatch, tmp_path):
    """pytest-benchmark disables every benchmark when PYTEST_XDIST_WORKER is set: a suite must never inherit it."""
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    spec = folder.RunSpec(run_dir=tmp_path, run_id="r", preset=get_preset("smoke"), suites=("tokens",), device="cpu")
    env = execute.suite_env(spec, "tokens")
    assert not [k for k in env if k.startswith("PYTEST_XDIST_")] and env["PFBENCH_SUITE"] == "tokens"


def test_forked_and_fresh_suite_processes_record_the_same(tmp_path, monkeypatch):
    """A suite forked from the runner's server (torch and pytest imported once) and one started as the log's
    command in a fresh interpreter (PFBENCH_FRESH_SUITES=1) give the same statuses, exit codes, notes and rows."""
    from pfbench.runner.launch import FRESH_ENV, forking_available

    suites = fake_suites(tmp_path, empty=("memory",))
    outcome = {}
    for mode in ("forked", "fresh"):
        monkeypatch.setenv(FRESH_ENV, "1" if mode == "fresh" else "0")
        assert forking_available(dict(os.environ)) == (mode == "forked")
        run = tmp_path / mode
        assert main(["run", "--preset", "smoke", "--suites", "throughput,tokens,memory", "--out", str(run),
                     "--suites-dir", str(suites), "--no-report"]) == 1
        log = (run / "logs" / "tokens.log").read_text().splitlines()
        assert log[0].startswith("$ ") and " -m pytest " in log[0] and any("1 passed" in line for line in log)
        rows = pd.read_parquet(run / "results.parquet")
        outcome[mode] = ({s: (status(run, s)["status"], status(run, s)["exit_code"],
                              re.sub(r" in [\d.]+s", "", status(run, s)["note"]))  # pytest's own seconds differ
                          for s in ("throughput", "tokens", "memory")},
                         sorted(rows.loc[rows["suite"] == "tokens", "metric"].unique()))
    assert outcome["forked"] == outcome["fresh"]
    statuses = outcome["forked"][0]
    assert statuses["tokens"][:2] == ("passed", 0) and statuses["throughput"][:2] == ("failed", 1)
    assert calls(suites) == ["throughput", "tokens"] * 2
