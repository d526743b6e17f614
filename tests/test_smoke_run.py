"""CI runs every suite on the smoke preset through the main job, so a suite cannot silently rot."""
import json
import subprocess
import sys

import pandas as pd

from pfbench.runner.catalog import SUITE_FILES


def test_pfbench_run_smoke_runs_every_suite(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pfbench.cli", "run", "--preset", "smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    statuses = {p.stem: json.loads(p.read_text())["status"] for p in (out / "status").glob("*.json")}
    assert set(statuses) == set(SUITE_FILES), proc.stdout + proc.stderr
    failed = {suite: status for suite, status in statuses.items() if status != "passed"}
    logs = {suite: (out / "logs" / f"{suite}.log").read_text()[-3000:] for suite in failed}
    assert not failed, f"{failed}\n{logs}"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = pd.read_parquet(out / "results.parquet")
    assert set(table["suite"]) == set(SUITE_FILES)
    # every (suite, metric) the suites emit is declared by its benchmark, with the unit the suite writes
    from test_benchmarks import undeclared, unit_mismatches
    assert undeclared(table) == [], "declare these in pfbench/benchmarks/<suite>/__init__.py"
    assert unit_mismatches(table) == []
    for name in ("report.md", "report.html"):
        assert (out / name).stat().st_size > 1000
    first = (out / "report.md").read_text().splitlines()[:40]  # the first screen answers: verdicts on top
    assert any(line.startswith("| Tokens:") for line in first) and any(line.startswith("| GPU-hours:") for line in first)
    assert list((out / "plots").glob("*.png"))
