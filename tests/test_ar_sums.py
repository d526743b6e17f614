"""The closed-form AR sums equal enumeration of every frame, and variant_counts answers any duration at once."""
import itertools
import time

import pytest

from pfbench.accounting.ar_sums import ar_frame_sums
from pfbench.accounting.counted import COUNTED_MAX_FRAMES, counted_counts
from pfbench.accounting.flops import forward_flops, variant_counts
from pfbench.accounting.shapes import Case, ModelShape, VideoShape, _ar_frame_tokens, sampling_cases, training_cases
from reference_model.variants import SamplingSchedule

MODEL = ModelShape(64, 2, 256, 3)


@pytest.mark.parametrize("frames,stages,window", list(itertools.product([1, 2, 5, 9], [1, 2, 3, 4], [None, 0, 1, 3])))
def test_closed_form_equals_enumeration(frames, stages, window):
    shape = VideoShape(frames, 64, 64, 2, stages, "uniform")
    for k, full, causal in itertools.product(range(stages), (False, True), (False, True)):
        for lo, hi in ((0, frames), (1, frames), (0, 1)):
            cases = [Case(1.0, _ar_frame_tokens(shape, i, k, full, window), causal, 0) for i in range(lo, hi)]
            got = ar_frame_sums(shape.tokens_at_level, stages, k, lo, hi, full_history=full, causal=causal,
                                window=window)
            assert (got.frames, got.tokens, got.pairs) == (len(cases), sum(c.tokens for c in cases),
                                                           sum(c.pairs for c in cases))
            assert got.max_tokens == max((c.tokens for c in cases), default=0)
            assert got.max_pairs == max((c.pairs for c in cases), default=0)


def _enumerated(variant, shape, schedule):
    cases, sampling = training_cases(variant, shape), sampling_cases(variant, shape, schedule)
    fwd = sum(c.probability * forward_flops(MODEL, c.tokens, c.pairs, c.output_tokens) for c in cases)
    return (max(c.tokens for c in cases), sum(c.probability * c.tokens for c in cases),
            sum(c.probability * c.pairs for c in cases), max(c.pairs for c in cases), fwd,
            float(sum(n * forward_flops(MODEL, c.tokens, c.pairs, c.output_tokens) for c, n in sampling)),
            sum(n for _, n in sampling))


@pytest.mark.parametrize("variant", ["full_sequence", "spatial_pyramid", "pyramid_ar", "ar_full_history",
                                     "pyramid_ar_bidirectional"])
@pytest.mark.parametrize("schedule", [SamplingSchedule(), SamplingSchedule(9, (5, 4, 3), (2, 2, 1)),
                                      SamplingSchedule(history_window=2)])
def test_variant_counts_equal_the_enumerated_cases(variant, schedule):
    shape = VideoShape(7, 32, 48, 2, 3, (1, 2, 1))
    c = variant_counts(variant, shape, MODEL, schedule)
    got = (c.max_tokens, c.mean_tokens, c.attention_pairs, c.max_attention_pairs, c.forward_flops_per_sample,
           c.sample_flops_per_video, c.sample_forwards_per_video)
    want = _enumerated(variant, shape, schedule)
    assert got[0] == want[0] and got[3] == want[3] and got[5:] == want[5:]
    assert got[1:5] == pytest.approx(want[1:5], rel=1e-12)


def test_any_duration_answers_at_once_and_counted_refuses_above_its_limit():
    huge = VideoShape(300_001, 48, 80, 2, 3, "1:2:1")  # 384p, 100000 s at 24 fps
    start = time.perf_counter()
    counts = {v: variant_counts(v, huge, MODEL) for v in ("full_sequence", "pyramid_ar", "ar_full_history")}
    assert time.perf_counter() - start < 1.0
    assert counts["full_sequence"].max_tokens == 300_001 * 960
    # last frame at full size: itself 960, history at distance 1 full (960), 2 half (240), the rest quarter (60)
    assert counts["pyramid_ar"].max_tokens == 960 + 960 + 240 + 60 * (300_000 - 2)
    assert counts["ar_full_history"].max_tokens == 300_001 * 960
    with pytest.raises(ValueError, match=f"limited to {COUNTED_MAX_FRAMES} latent frames.*--no-counted"):
        counted_counts("pyramid_ar", VideoShape(COUNTED_MAX_FRAMES + 1, 8, 8, 2, 3, "1:2:1"))


def test_ar_priced_equals_pricing_every_case_and_card_flops_answer_any_length():
    from pfbench.accounting.arch_cards import load_card
    from pfbench.accounting.card_flops import card_forward_flops
    from pfbench.accounting.flops import ar_priced

    card = load_card("pyramid-flow-sd3")
    shape, schedule = VideoShape(9, 48, 80, 2, 3, "1:2:1"), SamplingSchedule(30, (5, 4, 3), (2, 2, 1))

    def price(t, p, o):
        return card_forward_flops(card, t, p, o)["total"]

    for variant in ("pyramid_ar", "ar_full_history", "pyramid_ar_bidirectional"):
        sample, train = ar_priced(variant, shape, schedule, price)
        assert sample == sum(n * price(c.tokens, c.pairs, c.output_tokens)
                             for c, n in sampling_cases(variant, shape, schedule))
        assert train == pytest.approx(sum(c.probability * price(c.tokens, c.pairs, c.output_tokens)
                                          for c in training_cases(variant, shape)), rel=1e-12)
    from pfbench.cli.main import main
    assert main(["flops", "--list-arch"]) == 0  # imports out of the timing
    start = time.perf_counter()
    assert main(["flops", "--arch", "pyramid-flow-sd3", "--video", "2400001x384x640", "--json"]) == 0
    assert time.perf_counter() - start < 5
