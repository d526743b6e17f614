"""pfbench runs are native pytest-benchmark runs: each suite saves into RUN/benchmark_storage, which
`pytest-benchmark compare`, `--benchmark-compare` and `--benchmark-compare-fail` read (tidy fields in extra_info)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pfbench.cli.main import main
from pfbench.runner.execute import BENCHMARK_STORAGE, UNUSED_PLUGINS

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ONLY_RUN_CASES = ["-k", "analytic_vs_counted and run"]  # the tokens suite's four benchmarks at the run's preset


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("storage") / "run"
    assert main(["run", "--preset", "smoke", "--suites", "tokens", "--out", str(out), "--no-report"]) == 0
    return out


# pytest-benchmark disables itself inside an xdist worker (it reads PYTEST_XDIST_WORKER): the by-hand pytest must not
# inherit the variables of the worker running this test
NOT_AN_XDIST_WORKER = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}


def saved(storage: Path) -> list[Path]:
    return sorted(storage.glob("*/[0-9][0-9][0-9][0-9]_*.json"))


def compare_against(run: Path, storage: Path, fail: str) -> subprocess.CompletedProcess:
    """The tokens suite again, by hand, compared against ``storage``'s saved tokens run (nothing is saved)."""
    return subprocess.run([sys.executable, "-m", "pytest", "suites/test_tokens.py", "-q", "-p", "no:cacheprovider",
                           *UNUSED_PLUGINS, *ONLY_RUN_CASES, "--pf-config", str(run / "config.json"),
                           f"--benchmark-storage=file://{storage}", "--benchmark-compare=*_tokens",
                           f"--benchmark-compare-fail={fail}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=NOT_AN_XDIST_WORKER)


def test_each_suite_saves_into_the_run_storage_with_tidy_extra_info(run):
    files = saved(run / BENCHMARK_STORAGE)
    assert [f.name for f in files] == ["0001_tokens.json"]
    data = json.loads(files[0].read_text())
    assert data["machine_info"]["pfbench"]["preset"] == "smoke"
    bench = {b["fullname"]: b for b in data["benchmarks"]}
    case = bench["suites/test_tokens.py::test_tokens_analytic_vs_counted[pyramid_ar-run]"]
    assert case["extra_info"]["variant"] == "pyramid_ar" and case["stats"]["rounds"] >= 1


def test_pytest_benchmark_compare_reads_a_pfbench_run(run):
    proc = subprocess.run([str(BIN / "pytest-benchmark"), "--storage", f"file://{run / BENCHMARK_STORAGE}",
                           "compare", "--group-by=name", "--columns=min,median"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "test_tokens_analytic_vs_counted[pyramid_ar-run]" in proc.stdout


@pytest.mark.slow
def test_benchmark_compare_fail_against_a_pfbench_run(run, tmp_path):
    ok = compare_against(run, run / BENCHMARK_STORAGE, "min:100000%")  # same machine, generous threshold
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "0001_tokens" in ok.stdout  # the saved run is the compared column
    assert [f.name for f in saved(run / BENCHMARK_STORAGE)] == ["0001_tokens.json"]  # comparing saved nothing
    # a stored run 10^4 x faster than today's: today's run is a regression and --benchmark-compare-fail fails it
    fast = tmp_path / "fast_storage"
    shutil.copytree(run / BENCHMARK_STORAGE, fast)
    for path in saved(fast):
        data = json.loads(path.read_text())
        for b in data["benchmarks"]:
            b["stats"] = {k: (v / 1e4 if isinstance(v, float) and k not in ("ops",) else v)
                          for k, v in b["stats"].items()}
            b["stats"]["data"] = [x / 1e4 for x in b["stats"].get("data", [])]
        path.write_text(json.dumps(data))
    bad = compare_against(run, fast, "min:100%")
    assert bad.returncode != 0 and "Performance has regressed" in bad.stdout + bad.stderr, bad.stdout[-2000:]
