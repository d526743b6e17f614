"""The scaling suite's rows become a report section (table + plot); `pfbench run` knows the suite."""
import json

from pfbench.report.build import write_report
from pfbench.results.store import collect_run
from pfbench.runner.catalog import SUITE_FILES, parse_suites


def test_scaling_rows_make_a_report_section(tmp_path):
    rows = []
    for n, sps, comm in ((1, 10.0, 0.0), (2, 16.0, 0.01)):
        common = dict(case="smoke/pyramid_ar/batch 2 per process", variant="pyramid_ar", backend="gloo", x_value=n,
                      x_unit="processes")
        rows += [dict(common, metric="samples_per_s", value=sps, unit="samples/s"),
                 dict(common, metric="tokens_per_s", value=sps * 44, unit="tokens/s"),
                 dict(common, metric="step_s", value=2 * n / sps, unit="s"),
                 dict(common, metric="weak_scaling_efficiency", value=sps / (n * 10.0), unit="fraction"),
                 dict(common, metric="comm_s_per_step", value=comm, unit="s")]
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "scaling.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    md, _ = write_report(tmp_path, collect_run(tmp_path))
    text = md.read_text()
    section = text[text.index("## Data-parallel scaling"):]
    assert "| 2 | gloo | 16 |" in section and "0.8" in section  # efficiency 16 / (2 x 10)
    assert (tmp_path / "plots" / "scaling.png").exists()
    assert SUITE_FILES["scaling"] == "test_scaling.py" and parse_suites("scaling") == ("scaling",)
