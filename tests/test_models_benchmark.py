"""The models benchmark's driver and report section on a micro plan: every row declared, predictions from counted
FLOPs, the section's table and plot."""
from __future__ import annotations

import pandas as pd
import pytest

from pfbench.benchmarks import benchmark
from pfbench.benchmarks.models.measure import family_rows
from pfbench.benchmarks.models.plan import PLANS, ModelsPlan, plan_for
from pfbench.benchmarks.models.section import section
from pfbench.render.context import ReportContext
from pfbench.results.schema import tidy_frame

MICRO = ModelsPlan("micro", layers=1, heads=1, head_dim=16, text_tokens=4, text_dim=16, frames=1, side=4,
                   pyramid_steps=(1, 1, 1), full_steps=2, forward_repeats=1)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return family_rows("wan2.1-t2v-1.3b", MICRO)


def test_every_row_is_declared_and_names_its_config(rows):
    declared = {m.name for m in benchmark("models").metrics}
    assert {r["metric"] for r in rows} <= declared
    assert all("WanTransformer3DModel(" in r["note"] and "1 layers" in r["note"] for r in rows
               if r["metric"] != "peak_memory_bytes")


def test_predictions_come_from_counted_flops(rows):
    value = {(r["variant"], r["metric"]): r["value"] for r in rows}
    flops = [value[(f"stage{k}", "counted_flops")] for k in (1, 2, 3)]
    assert flops[0] < flops[1] < flops[2]
    assert value[("stage1", "stage_cost_predicted")] == pytest.approx(flops[0] / flops[2])
    assert value[("pyramid", "sample_flops")] == sum(flops)                    # 1-1-1 steps
    assert value[("full_sequence", "sample_flops")] == 2 * flops[2]
    assert value[("pyramid", "pyramid_saving_predicted")] == pytest.approx(1 - sum(flops) / (2 * flops[2]))
    measured = value[("pyramid", "sample_s")] / value[("full_sequence", "sample_s")]
    assert value[("pyramid", "pyramid_saving_measured")] == pytest.approx(1 - measured)


def test_the_section_has_a_table_and_a_plot(rows, tmp_path):
    df = tidy_frame([{**r, "suite": "models"} for r in rows])
    blocks = section(ReportContext(tmp_path, df, pd.DataFrame(columns=["suite", "status"]), {}, {}))
    assert any(b.kind == "table" for b in blocks) and any(b.kind == "image" for b in blocks)
    assert (tmp_path / "plots" / "model_savings.png").is_file()


def test_the_plan_follows_the_preset_and_device():
    assert plan_for("smoke", "cpu") is PLANS["smoke"] and not PLANS["smoke"].full
    assert PLANS["gpu"].full and plan_for("paper-768p-10s", "cuda") is PLANS["gpu"]
    assert plan_for("paper-768p-10s", "cpu") is PLANS["cpu"]
