"""The words a verdict may use, and the test behind each: one place, so that a verdict's status always means the
same thing and matches the claim as the paper states it (README, "Verdicts (rules)").

- A ratio claim ("almost 3x faster convergence"): :func:`ratio_claim` on the ratio's interval. ``consistent with
  ~3x`` when the interval contains 3 or lies inside the declared band; ``faster, but not ~3x`` when it lies above 1
  and below the band; ``faster than ~3x`` when it lies above the band; ``contradicted`` when it lies at or below 1;
  ``inconclusive`` when it spans 1.
- A superiority claim ("corrective noise removes block artifacts"): :func:`superiority` on a paired difference.
- A "no worse" claim ("causal attention is as good as bidirectional"): :func:`non_inferiority` with a declared margin.
- A "keeps quality" claim (the temporal pyramid): :func:`equivalence`, two one-sided tests (TOST) with a declared
  margin: equivalent when the 90% interval lies inside (-margin, +margin).
- A plausibility check (the paper's GPU-hours): ``plausible`` / ``implausible``, never "reproduced".

Statuses (``Verdict.status``): reproduced, partly reproduced, not reproduced, inconclusive, plausible, implausible,
not measured here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pfbench.metrics.small_sample import LESS_DIVERSE_MARGIN
from pfbench.metrics.stats import t_interval

CLAIMED_RATIO = 3.0
RATIO_BAND = (2.0, 4.5)     # "almost 3x": within a factor 1.5 of 3
EQUIVALENCE_MARGIN = 0.10   # "keeps quality" / "no worse": within 10% of the reference setting's value


@dataclass(frozen=True)
class Call:
    """A status with the words that say it."""
    status: str
    words: str


def fmt_x(v: float | None, bound: str = "") -> str:
    """A ratio for a verdict line: '2.7x', '>= 8x' for a lower bound, '<= 0.5x' for an upper bound, 'inf'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "inf"
    mark = {"lower": ">= ", "upper": "<= "}.get(bound, "")
    text = f"{v:.2g}" if v < 1 else (f"{v:.2f}".rstrip("0").rstrip(".") if v < 10 else f"{v:.0f}")
    return f"{mark}{text}x"


def ratio_claim(low: float, high: float, claimed: float = CLAIMED_RATIO,
                band: tuple[float, float] = RATIO_BAND) -> Call:
    """The call on a claimed ratio ("~3x") from its interval [low, high]."""
    if any(map(math.isnan, (low, high))):
        return Call("inconclusive", "inconclusive (no interval)")
    if high <= 1.0:
        return Call("not reproduced", "contradicted (not faster)")
    if low <= 1.0:
        return Call("inconclusive", "inconclusive (the interval spans 1x)")
    if low <= claimed <= high or (band[0] <= low and high <= band[1]):
        return Call("reproduced", f"consistent with ~{claimed:g}x")
    if high < claimed:
        return Call("partly reproduced", f"faster, but not ~{claimed:g}x")
    return Call("partly reproduced", f"faster than ~{claimed:g}x")


def superiority(low: float, high: float, positive_is_claim: bool = True) -> Call:
    """The claim "a > b" (or "a < b") from the interval of a - b."""
    if any(map(math.isnan, (low, high))):
        return Call("inconclusive", "inconclusive (fewer than 2 seeds)")
    lo, hi = (low, high) if positive_is_claim else (-high, -low)
    if lo > 0:
        return Call("reproduced", "reproduced (the interval excludes 0)")
    if hi < 0:
        return Call("not reproduced", "contradicted (the interval lies on the other side of 0)")
    return Call("inconclusive", "inconclusive (the interval contains 0)")


def non_inferiority(low: float, high: float, margin: float) -> Call:
    """The claim "a is no worse than b" for a lower-is-better measure, from the interval of a - b: no worse when
    the upper end is below +margin; worse when the lower end is above +margin."""
    if any(map(math.isnan, (low, high, margin))):
        return Call("inconclusive", "inconclusive (fewer than 2 seeds)")
    if high < margin:
        return Call("reproduced", f"no worse (upper end {high:.3g} < margin {margin:.3g})")
    if low > margin:
        return Call("not reproduced", f"worse (lower end {low:.3g} > margin {margin:.3g})")
    return Call("inconclusive", f"inconclusive (the interval reaches the margin {margin:.3g})")


def equivalence(diffs, margin: float) -> tuple[Call, float, float]:
    """TOST on paired differences: equivalent when the 90% t-interval lies inside (-margin, margin); different
    when the 95% interval excludes the whole margin band. Returns the call and the 90% interval."""
    _, low, high = t_interval(diffs, confidence=0.90)
    if any(map(math.isnan, (low, high, margin))):
        return Call("inconclusive", "inconclusive (fewer than 2 seeds)"), low, high
    if -margin < low and high < margin:
        return Call("reproduced", f"equivalent (90% CI inside +-{margin:.3g})"), low, high
    _, lo95, hi95 = t_interval(diffs, confidence=0.95)
    if lo95 > margin or hi95 < -margin:
        return Call("not reproduced", f"different (95% CI outside +-{margin:.3g})"), low, high
    return Call("inconclusive", f"inconclusive (the 90% CI reaches beyond +-{margin:.3g})"), low, high


def diversity_guard(call: Call, favoured: float, reference: float, margin: float = LESS_DIVERSE_MARGIN,
                    names: tuple[str, str] = ("it", "the reference")) -> Call:
    """Withhold a call in favour of a generator less diverse than the one it is compared with: its feature-covariance
    trace ratio ``favoured`` below ``margin`` x ``reference``'s makes a "better" / "no worse" call inconclusive (a
    collapsing generator can look good on any distance). NaN diversity: the call stands."""
    if call.status not in ("reproduced", "partly reproduced") or not (favoured == favoured and reference == reference):
        return call
    if favoured < margin * reference:
        return Call("inconclusive", f"inconclusive: less diverse ({names[0]}'s covariance-trace ratio {favoured:.2f} "
                                    f"vs {names[1]}'s {reference:.2f}, margin {margin:g}x)")
    return call
