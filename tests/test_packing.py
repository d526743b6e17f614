"""The token-budget packer: never over budget, exact stage and frame distributions over the stream."""
from collections import Counter

import pytest
import torch

from reference_model.objectives import stage_mix_weights
from reference_model.packing import TokenBudgetPacker, sample_tokens
from reference_model.variants import VARIANTS, training_layouts

SHAPE = dict(frames=8, height=32, width=32)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_steps_never_exceed_the_budget_and_tokens_are_the_layouts(variant):
    budget = 4 * sample_tokens(variant, 0, SHAPE["frames"] - 1, **SHAPE)
    packer = TokenBudgetPacker(variant, budget, seed=1, **SHAPE)
    draws = packer.batches(40)
    assert all(0 < d.total_tokens <= budget for d in draws)
    assert min(d.fill for d in draws) > 0.5  # the next draw did not fit: a step is never left half empty
    layouts = {lay.num_tokens for lay, _ in training_layouts(variant, **SHAPE)}
    assert {n for d in draws for n in d.tokens} <= layouts


def test_stream_covers_the_stage_mix_and_the_frames_exactly():
    packer = TokenBudgetPacker("pyramid_ar", 3000, seed=0, block=64, **SHAPE)
    draws = packer.batches(300)
    stages = torch.cat([d.stages for d in draws])
    frames = torch.cat([d.frames for d in draws])
    n = (len(stages) // 64) * 64  # whole stratified blocks
    expected = stage_mix_weights("1:2:1", 3) * n  # k = 0 full, 1 mid, 2 low
    got = torch.bincount(stages[:n], minlength=3).double()
    assert torch.allclose(got, expected, atol=n / 64)  # one draw per block at most off its quantile share
    per_frame = torch.bincount(frames[:n], minlength=SHAPE["frames"]).double()
    assert per_frame.max() - per_frame.min() <= n / 64
    # stages are mixed inside a step, not sorted into low-res-only and high-res-only steps
    assert sum(len(set(d.stages.tolist())) > 1 for d in draws) > 0.8 * len(draws)


def test_big_budget_holds_many_pyramid_samples_and_one_full_clip():
    full = sample_tokens("full_sequence", 0, 0, **SHAPE)
    ar = TokenBudgetPacker("pyramid_ar", full, seed=0, **SHAPE).batches(20)
    fs = TokenBudgetPacker("full_sequence", full, seed=0, **SHAPE).batches(3)
    assert all(d.size == 1 for d in fs)
    assert sum(d.size for d in ar) / 20 > 4  # the same tokens carry several autoregressive samples


def test_deterministic_for_a_seed_and_capped_by_max_samples():
    a = TokenBudgetPacker("spatial_pyramid", 5000, seed=3, **SHAPE).batches(5)
    b = TokenBudgetPacker("spatial_pyramid", 5000, seed=3, **SHAPE).batches(5)
    assert [d.tokens for d in a] == [d.tokens for d in b]
    capped = TokenBudgetPacker("pyramid_ar", 100_000, seed=0, max_samples=3, **SHAPE).batches(4)
    assert all(d.size == 3 for d in capped)
    assert Counter(len(d.tokens) for d in capped) == {3: 4}


def test_budget_below_the_largest_sample_names_the_fix():
    with pytest.raises(ValueError, match="raise the budget to at least 2048"):
        TokenBudgetPacker("full_sequence", 1000, **SHAPE)


def test_lookahead_fills_the_budget_closer_without_dropping_draws():
    strict = TokenBudgetPacker("ar_full_history", 3000, seed=2, lookahead=1, **SHAPE).batches(30)
    ahead = TokenBudgetPacker("ar_full_history", 3000, seed=2, lookahead=8, **SHAPE).batches(30)
    mean_fill = lambda ds: sum(d.fill for d in ds) / len(ds)  # noqa: E731
    assert mean_fill(ahead) > mean_fill(strict) + 0.05
    # the same stream: every draw the strict packer used is used by the lookahead one (only reordered)
    pairs = lambda ds: Counter((k, f) for d in ds for k, f in zip(d.stages.tolist(), d.frames.tolist()))  # noqa: E731
    assert not (pairs(strict) - pairs(TokenBudgetPacker("ar_full_history", 3000, seed=2, **SHAPE).batches(60)))
    with pytest.raises(ValueError, match="lookahead"):
        TokenBudgetPacker("pyramid_ar", 3000, lookahead=0, **SHAPE)
