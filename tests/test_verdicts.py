"""The verdict rules on fixture tables: each of reproduced / not reproduced / inconclusive / not measured here,
for the tokens, training-speed and GPU-hours claims, and the first-screen table that gathers all claims."""
from __future__ import annotations

import pytest

from pfbench.benchmarks import all_benchmarks
from pfbench.benchmarks.base import Verdict
from pfbench.benchmarks.throughput.verdicts import training_speed_verdict
from pfbench.benchmarks.tokens.verdicts import gpu_hours_verdict, tokens_verdict
from pfbench.report.first_screen import declared_claims, gather_verdicts
from pfbench.results.schema import tidy_frame


def token_rows(pyr_analytic=15_360, pyr_counted=15_360, counted=True):
    rows = []
    for variant, analytic, count in (("full_sequence", 119_040, 119_040), ("pyramid_ar", pyr_analytic, pyr_counted)):
        rows.append(dict(suite="tokens", case="paper-768p-10s", variant=variant, metric="max_tokens", value=analytic,
                         backend="analytic"))
        if counted:
            rows.append(dict(suite="tokens", case="paper-768p-10s", variant=variant, metric="max_tokens",
                             value=count, backend="counted"))
    return tidy_frame(rows)


def test_tokens_all_four_statuses():
    assert tokens_verdict(token_rows()).status == "reproduced"
    assert "-87.1%" in tokens_verdict(token_rows()).value
    assert tokens_verdict(token_rows(pyr_analytic=15_361, pyr_counted=15_361)).status == "not reproduced"
    assert tokens_verdict(token_rows(pyr_counted=15_000)).status == "not reproduced"  # analytic != counted
    assert tokens_verdict(token_rows(counted=False)).status == "inconclusive"
    missing = tokens_verdict(tidy_frame([]), "the tokens suite's status is failed")
    assert missing.status == "not measured here" and "failed" in missing.why


def speed_rows(value, low, high, pairs):
    common = dict(suite="throughput", case="train_step_interleaved", variant="pyramid_ar", unit="x")
    return tidy_frame([
        dict(common, metric="speedup_vs_full_sequence", value=value, note=f"{pairs} alternating pairs"),
        dict(common, metric="speedup_vs_full_sequence_ci_low", value=low),
        dict(common, metric="speedup_vs_full_sequence_ci_high", value=high),
        dict(common, metric="speedup_pairs", value=pairs, unit="count"),
        dict(common, metric="predicted_speedup", value=5.0, backend="analytic")])


@pytest.mark.parametrize("value, low, high, pairs, status", [
    (3.0, 2.75, 3.25, 12, "reproduced"),     # the interval lies above 1
    (1.2, 0.9, 1.5, 12, "inconclusive"),     # it contains 1
    (0.7, 0.6, 0.8, 12, "not reproduced"),   # it lies below 1
    (3.0, 2.75, 3.25, 6, "inconclusive"),    # fewer than 10 alternating pairs
])
def test_training_speed_rule(value, low, high, pairs, status):
    v = training_speed_verdict(speed_rows(value, low, high, pairs))
    assert v.status == status and f"{value:.2f}x" in v.value and "FLOP-predicted 5.00x" in v.value


def test_training_speed_not_measured():
    assert training_speed_verdict(tidy_frame([])).status == "not measured here"


def plan_rows(mfu):
    return tidy_frame([dict(suite="tokens", case="paper-plan", variant="pyramid_ar", metric="implied_mfu", value=mfu,
                            backend="projection")])


@pytest.mark.parametrize("mfu, status", [(0.35, "plausible"), (1.7, "implausible"), (0.01, "inconclusive"),
                                         (0.8, "inconclusive")])
def test_gpu_hours_rule(mfu, status):
    assert gpu_hours_verdict(plan_rows(mfu)).status == status


def test_gpu_hours_not_measured():
    assert gpu_hours_verdict(tidy_frame([])).status == "not measured here"


def test_every_claim_gets_a_line_in_order():
    found = [Verdict("GPU-hours: x", "reproduced"), Verdict("Tokens: y", "inconclusive"),
             Verdict("FID convergence (spatial_pyramid)", "not reproduced"),
             Verdict("FID convergence (pyramid_ar)", "reproduced"), Verdict("Something else", "inconclusive")]
    claims = declared_claims(all_benchmarks())
    lines = gather_verdicts(found, claims)
    keys = [next((k for k, _, _ in claims if v.claim.startswith(k)), "other") for v in lines]
    assert keys == ["Tokens", "GPU-hours", "Training speed", "FID convergence", "FID convergence",
                    "Corrective noise", "Causal attention", "Temporal pyramid", "other"]
    assert [v.status for v in lines][2] == "not measured here" and "throughput" in lines[2].why
    assert "ablations" in lines[5].why
