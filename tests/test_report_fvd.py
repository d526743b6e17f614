"""The report's FVD section: variant FVD/KVD with N (or why skipped) and the FVD-against-N plot from the vbench
suite's rows."""
from __future__ import annotations

import pandas as pd

from pfbench.benchmarks.vbench.fvd_section import by_n, section_fvd
from pfbench.render.context import ReportContext
from pfbench.results.schema import tidy_frame


def _ctx(rows, tmp_path):
    return ReportContext(run_dir=tmp_path, df=tidy_frame(rows), statuses=pd.DataFrame(columns=["suite", "status"]),
                         config={}, env={})


def _row(case, variant, metric, value, status="ok", note="N = 3 vs 3 reference videos; biased", spread=None):
    return {"suite": "vbench", "case": case, "variant": variant, "metric": metric, "value": value, "unit": "",
            "spread": spread, "backend": "i3d-kinetics-400", "status": status, "note": note}


def test_section_shows_each_fvd_with_its_n_and_plots_fvd_against_n(tmp_path):
    rows = [_row("variant_fvd", "pyramid_ar", "fvd", 120.5, spread=10.0,
                 note="N = 3 vs 3 reference videos; biased; 16x16x16 clips of real crops"),
            _row("variant_fvd", "pyramid_ar", "kvd", 0.25, spread=0.01),
            _row("variant_fvd", "full_sequence", "fvd", None, "skipped", "skipped: clips have 4 frames, FVD needs 16"),
            _row("variant_fvd", "full_sequence", "kvd", None, "skipped", "skipped: clips have 4 frames, FVD needs 16")]
    rows += [_row(f"fvd_by_n/n={n:04d}", name, "fvd", v, spread=1.0)
             for name, vals in (("real-vs-real", (90.0, 60.0, 40.0)), ("real-vs-noised", (150.0, 130.0, 120.0)))
             for n, v in zip((4, 8, 16), vals)]
    ctx = _ctx(rows, tmp_path)
    blocks = section_fvd(ctx)
    tables = [b.content for b in blocks if b.kind == "table"]
    variants = tables[0].set_index("variant")
    assert variants.loc["pyramid_ar", "fvd"] == "120.5 ± 10" and variants.loc["full_sequence", "fvd"] == "skipped"
    assert "N = 3 vs 3" in variants.loc["pyramid_ar", "N and protocol"]
    assert any("clips have 4 frames" in str(b.content) for b in blocks if b.kind == "text")
    assert any("Setting: 16x16x16 clips of real crops." in str(b.content) for b in blocks if b.kind == "text")
    assert (tmp_path / "plots" / "fvd_by_n.png").is_file()
    curve = by_n(ctx.df[ctx.df["suite"] == "vbench"])
    assert list(curve[curve["variant"] == "real-vs-real"]["n"]) == [4, 8, 16]
    assert list(tables[1]["n"]) == [4, 8, 16]


def test_no_fvd_rows_no_section(tmp_path):
    assert section_fvd(_ctx([_row("variant_samples", "pyramid_ar", "temporal_flickering", 0.9)], tmp_path)) == []


def test_the_vbench_section_carries_the_fvd_blocks(tmp_path):
    from pfbench.benchmarks.vbench.section import section_vbench
    rows = [_row("variant_samples", "pyramid_ar", "temporal_flickering", 0.9),
            _row("variant_fvd", "pyramid_ar", "fvd", 120.5, spread=10.0)]
    blocks = section_vbench(_ctx(rows, tmp_path))
    assert any(b.kind == "table" and "fvd" in b.content.columns for b in blocks)
    assert any(b.kind == "text" and "Kinetics-400 I3D" in str(b.content) for b in blocks)


def test_first_screen_puts_each_variant_fvd_with_its_n_next_to_fid(tmp_path):
    from pfbench.report.first_screen import _quality_columns

    rows = [_row("variant_fvd", "pyramid_ar", "fvd", 120.5, spread=10.0, note="N = 8 vs 8 reference videos; biased"),
            _row("variant_fvd", "full_sequence", "fvd", 300.0, note="N = 8 vs 8 reference videos; biased"),
            _row("variant_fvd", "spatial_pyramid", "fvd", None, "skipped", "skipped: preset smoke")]
    rows += [_row("variant_fvd", v, "fvd_videos", 8.0, note="N: 8 videos scored against 8 reference videos")
             for v in ("pyramid_ar", "full_sequence")]
    cols = dict(_quality_columns(_ctx(rows, tmp_path).df, []))
    pick = cols["FVD [i3d-kinetics-400] (debiased ± 95% CI; N=8 videos)"]  # one N for all: in the header
    assert pick("pyramid_ar") == "120 ± 10" and pick("full_sequence") == "300"  # no fvd_debiased rows
    assert pick("spatial_pyramid") == "—"
    rows[-1] = {**rows[-1], "value": 6.0}  # variants with different N: each cell says its own
    cols = dict(_quality_columns(_ctx(rows, tmp_path).df, []))
    pick = cols["FVD [i3d-kinetics-400] (debiased ± 95% CI, N videos)"]
    assert pick("pyramid_ar") == "120 ± 10 (N=8)" and pick("full_sequence") == "300 (N=6)"


def test_first_screen_centres_the_fvd_interval_where_it_was_computed_and_flags_bias(tmp_path):
    """The ± is the half-width of the interval around the debiased FVD: the cell shows that centre (not the plain
    FVD), then a mark when the variant's FVD is bias-dominated (its bias_dominated row is 1)."""
    from pfbench.report.first_screen import _quality_columns

    rows = []
    for variant, plain, centre, flag in (("pyramid_ar", 120.5, 95.25, 1.0), ("full_sequence", 300.0, 280.0, 0.0)):
        rows += [_row("variant_fvd", variant, "fvd", plain, spread=12.0),
                 _row("variant_fvd", variant, "fvd_debiased", centre, spread=12.0),
                 _row("variant_fvd", variant, "fvd_videos", 8.0),
                 _row("variant_fvd", variant, "bias_dominated", flag)]
    notes = []
    cols = dict(_quality_columns(_ctx(rows, tmp_path).df, notes))
    pick = cols["FVD [i3d-kinetics-400] (debiased ± 95% CI; N=8 videos)"]
    assert pick("pyramid_ar") == "95 ± 12†"
    assert pick("full_sequence") == "280 ± 12"
    assert len(notes) == 1 and notes[0].startswith("† bias-dominated")
