"""pfbench.benchmarks.vocabulary: each call on hand-made intervals, and the guard that withholds a call in favour of
a less diverse generator."""
import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from pfbench.benchmarks.vocabulary import (
    Call,
    diversity_guard,
    equivalence,
    fmt_x,
    non_inferiority,
    superiority,
)


def test_superiority_reads_the_side_of_zero():
    assert superiority(0.1, 0.5).status == "reproduced"
    assert superiority(-0.5, -0.1).status == "not reproduced"
    assert superiority(-0.1, 0.5).status == "inconclusive"
    assert superiority(-0.5, -0.1, positive_is_claim=False).status == "reproduced"  # "lower is the claim"
    assert superiority(math.nan, 1.0).status == "inconclusive"


def test_non_inferiority_against_its_margin():
    assert non_inferiority(-0.3, 0.05, margin=0.1).status == "reproduced"   # upper end below the margin
    assert non_inferiority(0.15, 0.4, margin=0.1).status == "not reproduced"  # lower end above it: worse
    assert non_inferiority(-0.3, 0.2, margin=0.1).status == "inconclusive"


def test_equivalence_is_tost_on_the_90_percent_interval():
    diffs = [0.01, -0.02, 0.015, -0.005]
    call, low, high = equivalence(diffs, margin=0.1)
    d = np.asarray(diffs)
    half = student_t.ppf(0.95, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert call.status == "reproduced"
    assert equivalence([1.0, 1.1, 0.9], margin=0.1)[0].status == "not reproduced"  # far outside the band
    assert equivalence([0.0, 0.3, -0.3], margin=0.1)[0].status == "inconclusive"
    assert equivalence([0.0], margin=0.1)[0].status == "inconclusive"  # one seed: no interval


def test_a_less_diverse_winner_is_withheld_and_others_stand():
    win = Call("reproduced", "consistent with ~3x")
    assert diversity_guard(win, 0.35, 0.95).status == "inconclusive"
    assert "less diverse" in diversity_guard(win, 0.35, 0.95).words
    assert diversity_guard(win, 0.9, 0.95) == win                    # within the margin
    assert diversity_guard(Call("not reproduced", "x"), 0.1, 1.0).status == "not reproduced"  # only wins are withheld
    assert diversity_guard(win, math.nan, 1.0) == win                # no diversity measured


def test_ratios_print_their_bounds():
    assert fmt_x(8.4, "lower") == ">= 8.4x" and fmt_x(12.3, "lower") == ">= 12x" and fmt_x(0.5, "upper") == "<= 0.5x"
    assert fmt_x(2.75) == "2.75x" and fmt_x(math.inf) == "inf" and fmt_x(None) == "n/a"
