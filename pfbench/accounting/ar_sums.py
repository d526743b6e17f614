"""Closed-form sums over the frames of an autoregressive pyramid, so any clip length costs O(stages) arithmetic.

Frame i (0-based) at stage level k attends to its history frames at distance d = 1..min(i, W) (W: the
history window, unbounded by default) and to itself. A history frame at distance d has h(d) tokens:
level ``min(k + d - 1, K - 1)`` with compressed history, level 0 with full history. h(d) is constant
(= c) for d >= D, so the sequence length S_i = n_k + sum_{d<=m_i} h(d) is linear in i between the
breakpoints D and W, and constant after W. Attention pairs are S_i^2 (bidirectional) or
(S_i^2 + sum of squared frame lengths) / 2 (blockwise causal); summing a quadratic in i over a range
needs only sum i and sum i^2. Every sum is an exact integer; tests check it against enumeration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class FrameSums:
    """Totals over the frames i in [lo, hi) of one stage."""

    frames: int
    tokens: int          # sum of sequence lengths S_i
    pairs: int           # sum of allowed (query, key) pairs
    max_tokens: int      # S at the last frame (S_i never decreases)
    max_pairs: int


def _sum_i(a: int, b: int) -> int:
    """sum of i for a <= i < b."""
    return (b * (b - 1) - a * (a - 1)) // 2 if b > a else 0


def _sum_i2(a: int, b: int) -> int:
    """sum of i^2 for a <= i < b."""
    f = lambda n: (n - 1) * n * (2 * n - 1) // 6  # noqa: E731  (sum of i^2 for 0 <= i < n)
    return f(b) - f(a) if b > a else 0


def ar_frame_sums(tokens_at_level: Callable[[int], int], stages: int, k: int, lo: int, hi: int, *,
                  full_history: bool, causal: bool, window: int | None = None) -> FrameSums:
    """Sums of S_i and pairs_i over frames lo <= i < hi of stage level k, in closed form (no loop over i)."""
    n_k = tokens_at_level(k)
    if full_history:
        d0, c = 1, tokens_at_level(0)
    else:
        d0, c = max(1, stages - k), tokens_at_level(stages - 1)

    def h(d: int) -> int:
        return c if full_history else tokens_at_level(min(k + d - 1, stages - 1))

    head = [h(d) for d in range(1, d0)]                 # distances below the breakpoint (< K of them)
    h1, h2 = sum(head), sum(x * x for x in head)        # sums over d = 1 .. d0 - 1

    def hist(m: int) -> tuple[int, int]:
        """(sum h(d), sum h(d)^2) over d = 1..m."""
        if m < d0:
            return sum(head[:m]), sum(x * x for x in head[:m])
        return h1 + c * (m - d0 + 1), h2 + c * c * (m - d0 + 1)

    def pairs(s: int, q: int) -> int:
        return (s * s + q) // 2 if causal else s * s

    w = hi if window is None else max(0, window)
    tokens = total_pairs = 0
    for i in range(lo, min(hi, d0)):                    # segment A: direct, fewer than K frames
        a, b = hist(min(i, w))
        tokens, total_pairs = tokens + n_k + a, total_pairs + pairs(n_k + a, n_k * n_k + b)
    a, b = max(lo, d0), min(hi, w)                      # segment B: S_i = alpha + c i, Q_i = beta + c^2 i
    if b > a:
        n, si, si2 = b - a, _sum_i(a, b), _sum_i2(a, b)
        alpha, beta = n_k + h1 - c * (d0 - 1), n_k * n_k + h2 - c * c * (d0 - 1)
        s_sum, s2_sum, q_sum = alpha * n + c * si, alpha * alpha * n + 2 * alpha * c * si + c * c * si2, \
            beta * n + c * c * si
        tokens += s_sum
        total_pairs += (s2_sum + q_sum) // 2 if causal else s2_sum
    a = max(lo, d0, w)                                  # segment C: the window is full, S constant
    if hi > a:
        x, y = hist(w)
        tokens += (hi - a) * (n_k + x)
        total_pairs += (hi - a) * pairs(n_k + x, n_k * n_k + y)
    if hi <= lo:
        return FrameSums(0, 0, 0, 0, 0)
    x, y = hist(min(hi - 1, w))
    return FrameSums(hi - lo, tokens, total_pairs, n_k + x, pairs(n_k + x, n_k * n_k + y))
