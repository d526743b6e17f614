"""Several runs in one report (`pfbench report RUN_A RUN_B`) and the HTML view of `pfbench compare`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pfbench.cli.main import main

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"


def faster_copy(tmp_path: Path) -> Path:
    """The fixture run with pyramid_ar's train step twice as fast and full_sequence's fit doubled."""
    b = tmp_path / "after"
    shutil.copytree(FIXTURE, b)
    path = b / "benchmarks" / "throughput.json"
    data = json.loads(path.read_text())
    for bench in data["benchmarks"]:
        if (bench["extra_info"]["case"], bench["extra_info"]["variant"]) == ("train_step", "pyramid_ar"):
            bench["stats"]["median"] *= 0.5
    path.write_text(json.dumps(data))
    rows = b / "rows" / "memory.jsonl"
    lines = [json.loads(line) for line in rows.read_text().splitlines()]
    for row in lines:
        if row["metric"] == "max_frames_fit" and row["variant"] == "full_sequence":
            row["value"] *= 2
    rows.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return b


def test_two_runs_one_table_per_measure_with_ratios(tmp_path):
    b = faster_copy(tmp_path)
    out = tmp_path / "multi"
    assert main(["report", str(FIXTURE), str(b), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.count("*throughput · `time_s`") == 1 and "*memory · `max_frames_fit`" in md
    block = md.split("*throughput · `time_s`")[1].split("\n\n")[1]
    row = next(line for line in block.splitlines() if "| train_step | pyramid_ar |" in line)
    # half the time: a ratio of 0.5; the verdict is `pfbench compare`'s (3 rounds a side: too few to tell)
    assert "| 0.5x | unknown: too few rounds |" in row
    fit = md.split("*memory · `max_frames_fit`")[1].split("\n\n")[1]
    assert "| 2x | unknown: too few rounds |" in next(line for line in fit.splitlines() if "full_sequence" in line)
    assert "0 differ" in md                                   # deterministic counts equal across the two runs
    assert ": pass" in md and "What differs" in md
    assert "<table" in (out / "report.html").read_text()
    assert main(["report", str(FIXTURE), str(b), "--out", str(out)]) == 2  # never overwritten without --force


def test_compare_html_highlights_regressions(tmp_path):
    from test_results import edit_benchmark, pair_with_rounds

    a, b = pair_with_rounds(tmp_path)
    edit_benchmark(b, "train_step", "pyramid_ar", 2.0)  # every round twice as slow
    page = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "--html", str(page)]) == 1
    html = page.read_text()
    assert '<td class="bad">regression</td>' in html and "FAIL" in html


@pytest.mark.parametrize("extra", [["--compare", str(FIXTURE)]])
def test_several_runs_refuse_compare(tmp_path, extra):
    assert main(["report", str(FIXTURE), str(FIXTURE), "--out", str(tmp_path / "m"), *extra]) == 2
