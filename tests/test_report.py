"""The report built from the committed fixture run: sections, embedded plots, skipped items, comparison."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pfbench.cli.main import main
from pfbench.render.blocks import markdown_table
from pfbench.render.format import fmt
from pfbench.report.build import write_report
from pfbench.results.schema import tidy_frame

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"
SECTIONS = ["Tokens, attention pairs, FLOPs and GPU-hours", "Throughput",
            "Memory and the out-of-memory frontier", "FID against training compute", "VBench-style scores",
            "Ablations", "Skipped, failed and missing"]
PLOTS = ["tokens_vs_length", "flops", "gpu_hours", "throughput", "memory", "vbench", "fid_convergence_ladder"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("report") / "run_cpu"
    shutil.copytree(FIXTURE, run)
    assert main(["report", str(run)]) == 0
    return run


def test_writes_results_report_and_plots(built):
    for name in ("results.parquet", "results.csv", "report.md", "report.html"):
        assert (built / name).stat().st_size > 0, name
    for name in PLOTS:
        assert (built / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_markdown_has_every_section_and_the_papers_numbers(built):
    md = (built / "report.md").read_text()
    for title in SECTIONS:
        assert f"### {title}" in md, title
    assert "119,040" in md and "15,360" in md and "-87.1%" in md  # measured beside the paper's, and the saving
    assert "20,700" in md                                              # the paper's A100-hours
    for name in PLOTS:
        assert f"(plots/{name}.png)" in md


def test_html_is_self_contained(built):
    page = (built / "report.html").read_text()
    images = re.findall(r"<img [^>]*src=[\"']([^\"']*)", page)
    assert len(images) >= len(PLOTS)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "plots/" not in "".join(images)
    for title in SECTIONS:
        assert f"<summary>{title}</summary>" in page  # the appendix sections are collapsible


def test_first_screen_answers(built):
    """Header (network, data, device), then the verdict table within the first 40 lines, then the summary."""
    md = (built / "report.md").read_text()
    first = md.splitlines()[:40]
    assert [line for line in first[:8] if line.startswith(("- network:", "- data:", "- device:"))] == [
        line for line in first[:8] if line.startswith("- ")][:3]
    claims = [line for line in first if line.startswith("| ") and line.split(" | ")[0][2:].startswith(
        ("Tokens", "Training speed", "FID convergence", "Corrective noise", "Causal attention", "Temporal pyramid",
         "GPU-hours"))]
    assert len(claims) >= 7
    assert md.index("## Verdicts") < md.index("## Each variant against full_sequence") < md.index("## Appendix")
    assert "Other measurements" not in md  # no raw dump
    page = (built / "report.html").read_text()
    assert '<table id="verdicts">' in page
    assert page.index('id="verdicts"') < page.index("<details>")


def test_no_duplicated_rows_in_tables(built):
    md = (built / "report.md").read_text()
    for block in md.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
        assert len(rows) == len(set(rows)), block[:300]


def test_skipped_and_failed_items_have_reasons(built):
    for text in ((built / "report.md").read_text(), (built / "report.html").read_text()):
        assert "PFBENCH_AESTHETIC_WEIGHTS" in text           # a metric skipped for missing weights, with the fix
        assert "stage mix (0.0, 0.0, 0.0)" in text            # the failed ablation suite's reason
        assert "No rows for stage_mix" in text
        assert "mfu" in text and "None" in text               # MFU unavailable on CPU


def test_compare_section(tmp_path):
    other = tmp_path / "other"
    shutil.copytree(FIXTURE, other)
    path = other / "benchmarks" / "throughput.json"
    data = json.loads(path.read_text())
    data["benchmarks"][0]["stats"]["median"] *= 1.5
    path.write_text(json.dumps(data))
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    assert main(["report", str(run), "--compare", str(other)]) == 0
    md = (run / "report.md").read_text()
    assert "### Comparison with other" in md and "Verdict: **pass**" in md  # this run is faster than the baseline
    assert "better" in md


def test_empty_run_says_so_instead_of_crashing(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"run_id": "x", "suites": ["tokens", "fid"]}))
    md, html = write_report(tmp_path, tidy_frame([]))
    text = md.read_text()
    assert "No token counts in this run (the tokens suite was not run in this run)" in text
    assert "suite **fid**: not run" in text
    assert "<html>" in html.read_text()


def test_formatting_helpers():
    assert fmt(119040.0, "tokens") == "119,040"
    assert fmt(1.4171e10, "pairs") == "1.42e10"
    assert fmt(2 * 2**30, "bytes") == "2 GiB"
    assert fmt(float("nan")) == "—"
    df = tidy_frame([{"case": "a|b", "metric": "m", "value": 1}])[["case", "metric"]]
    assert markdown_table(df).splitlines()[2] == "| a\\|b | m |"


def test_metric_throughput_lists_each_case_once():
    """The vbench suite writes a speed row and its benchmark JSON repeats it: the table shows the row once."""
    from pfbench.benchmarks.vbench.section import _speed_table

    rows = [dict(suite="vbench", case="vbench-throughput/flow_score", variant="static", metric="frames_per_s",
                 value=13.2, backend="opencv-dis", source="rows"),
            dict(suite="vbench", case="test_offline_dimension_throughput[flow_score-static]", variant="",
                 metric="frames_per_second", value=13.2, backend="opencv-dis", source="benchmark")]
    shown = _speed_table(tidy_frame(rows))[0].content
    assert list(shown["case"]) == ["vbench-throughput/flow_score"]


def test_every_dash_on_the_first_screen_says_why(built):
    """A "—" in the verdict or per-variant table carries a numbered reason, listed under its table."""
    md = (built / "report.md").read_text()
    first = md[md.index("## Verdicts"):md.index("## Appendix")]
    cells = [c.strip() for line in first.splitlines() if line.startswith("| ") for c in line.split("|")]
    dashes = [c for c in cells if "—" in c]
    assert dashes and all(re.search("—[¹²³⁴⁵⁶⁷⁸⁹]", c) for c in dashes), [c for c in dashes if c == "—"]
    for mark in sorted({m for c in dashes for m in re.findall("—([¹²³⁴⁵⁶⁷⁸⁹])", c)}):
        assert re.search(f"—{mark} [a-z]", first), f"no reason listed for —{mark}"
    assert "final FID" in first and "FVD" in first  # both quality columns, with their N or the reason
