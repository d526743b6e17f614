"""The out-of-memory frontier of an ascending ladder of sizes, found by bisection inside a time budget.

A size either fits the memory budget or runs out, and fitting is monotone (if a size runs out, so does every
larger one). ``search_frontier`` measures the smallest size, then grows toward the budget (doubling the tokens
while it knows too little, else extrapolating the measured memory to the budget along a secant, at most 4x
the tokens a step),
and once a size has run out it bisects between the largest size that fitted and the smallest that ran out, until
the two are neighbours on the ladder: the exact frontier.

Time is a budget, never a failure: before each size the step's time is predicted (the largest fitting size's
step time x the token ratio squared, an upper bound for attention); a size that would overrun the remaining time
is replaced by the largest smaller size that would not, and when even the next size up would overrun, the search
stops with a "skipped" point. The largest size that fitted is then a lower bound on the frontier
(``frontier_summary``). Pure: no torch, the clock is injectable, so the search is tested on a fake cost model.
"""
from __future__ import annotations

import time
from collections.abc import Callable

MAX_GROWTH = 2.0  # at most this many times the tokens of the largest fitting size in one step (the old ladder)


def search_frontier(points: list[dict], measure: Callable[[dict], dict], *, budget_bytes: float | None = None,
                    time_limit_s: float | None = None, memory_key: str = "increase_bytes",
                    log: Callable[[dict], None] | None = None,
                    clock: Callable[[], float] = time.perf_counter) -> list[dict]:
    """Measure sizes of ``points`` (ascending dicts with ``tokens`` and ``x_value``) with ``measure(point) ->
    dict(status ok | oom | error, step_s, <memory_key>, ...)`` until the frontier is bracketed exactly, the time
    runs out, or a size errors. Returns the measured points (plus at most one "skipped" point for a time cap)
    sorted by ``x_value``, each with ``next_x``: the ladder's next size (None for the last)."""
    n = len(points)
    lo, hi = -1, n  # largest index known to fit, smallest known to run out (n: none ran out so far)
    done: dict[int, dict] = {}
    extra: list[dict] = []
    start = clock()
    while hi - lo > 1:
        cand = _next_candidate(points, done, lo, hi, budget_bytes, memory_key)
        if time_limit_s is not None and lo >= 0:
            remaining = time_limit_s - (clock() - start)
            allowed = _affordable(points, done[lo], lo, cand, remaining)
            if allowed is None:
                predicted = _predicted_s(points, done[lo], lo, lo + 1)
                extra.append({**points[lo + 1], "status": "skipped", "step_s": None,
                              "message": f"time cap, not memory: predicted {predicted:.1f} s for this size after "
                                         f"{clock() - start:.1f} s would overrun the sweep's {time_limit_s:g} s "
                                         f"limit"})
                break
            cand = allowed
        if log:
            log({"event": "start", **points[cand]})
        t0 = clock()
        measured = measure(points[cand])
        result = {**points[cand], "step_s": clock() - t0, **measured}  # measure's own step_s wins
        if log:
            log({"event": "done", **result})
        done[cand] = result
        if result["status"] == "ok":
            lo = cand
        elif result["status"] == "oom":
            hi = cand
        else:  # an error is not a memory result: stop here, the caller fails on it
            break
    out = [dict(done[i], next_x=points[i + 1]["x_value"] if i + 1 < n else None) for i in sorted(done)]
    out += [dict(p, next_x=None) for p in extra]
    return sorted(out, key=lambda p: (p["x_value"], p["status"] == "skipped"))


def _next_candidate(points, done, lo, hi, budget_bytes, memory_key) -> int:
    """The index to measure next: the smallest size first; bisection once a size ran out; else growth."""
    if lo < 0:
        return 0 if hi > 0 else hi  # hi == 0 cannot reach here (the loop ends)
    if hi < len(points):
        return (lo + hi) // 2
    target = _extrapolated_tokens(points, done, lo, budget_bytes, memory_key)
    base = points[lo]["tokens"]
    want = min(target if target is not None else 2.0 * base, MAX_GROWTH * base)
    fits = [i for i in range(lo + 1, hi) if points[i]["tokens"] <= want]
    return fits[-1] if fits else lo + 1


def _extrapolated_tokens(points, done, lo, budget_bytes, memory_key) -> float | None:
    """Tokens at which memory reaches the budget on the secant through the two largest fitting sizes.

    A secant ignores the fixed part (weights, gradients) that would flatten a fitted power law, and for memory
    that grows faster than linearly it lands past the frontier, which the bisection then closes in a few steps.
    """
    ok = sorted(i for i, r in done.items() if r["status"] == "ok" and r.get(memory_key) is not None)
    if budget_bytes is None or len(ok) < 2:
        return None
    i1, i2 = ok[-2:]
    t1, t2 = points[i1]["tokens"], points[i2]["tokens"]
    m1, m2 = done[i1][memory_key], done[i2][memory_key]
    if not (t2 > t1 and m2 > m1):
        return None  # no growth seen (noise or a flat cost): grow by doubling
    return t2 + (budget_bytes - m2) * (t2 - t1) / (m2 - m1)


def _predicted_s(points, last_ok, lo, i) -> float:
    return (last_ok.get("step_s") or 0.0) * (points[i]["tokens"] / max(points[lo]["tokens"], 1)) ** 2


def _affordable(points, last_ok, lo, cand, remaining) -> int | None:
    """``cand``, or the largest size between ``lo`` and ``cand`` predicted to finish in ``remaining`` seconds."""
    for i in range(cand, lo, -1):
        if _predicted_s(points, last_ok, lo, i) <= remaining:
            return i
    return None


def frontier_summary(points: list[dict]) -> dict:
    """What a search found: ``fit`` (largest x that fitted, None if none), ``oom`` (smallest x that ran out),
    ``bound`` ("" when ``fit`` is the frontier itself, "lower" when the true frontier may be larger), ``why``."""
    ok = [p for p in points if p["status"] == "ok"]
    ran_out = [p for p in points if p["status"] == "oom"]
    errors = [p for p in points if p["status"] not in ("ok", "oom", "skipped")]
    best = max(ok, key=lambda p: p["x_value"]) if ok else None
    oom = min((p["x_value"] for p in ran_out), default=None)
    fit = best["x_value"] if best else None
    if errors:
        return dict(fit=fit, oom=oom, bound="lower", why=f"stopped by a {errors[0]['status']} at "
                                                         f"{errors[0]['x_value']:g}")
    if best is None:
        return dict(fit=None, oom=oom, bound="", why="ran out at the smallest size" if oom is not None
                    else "nothing measured")
    if oom is not None and best.get("next_x") == oom:
        return dict(fit=fit, oom=oom, bound="", why=f"largest size within the budget; ran out at {oom:g}")
    if oom is not None:
        return dict(fit=fit, oom=oom, bound="lower",
                    why=f"the frontier lies between {fit:g} (fits) and {oom:g} (ran out): the time cap stopped the "
                        f"bisection, so the value is a lower bound (>= {fit:g})")
    if best.get("next_x") is None:
        return dict(fit=fit, oom=None, bound="lower",
                    why=f"did not run out within the sweep: value is a lower bound (>= {fit:g}, the ladder's cap)")
    return dict(fit=fit, oom=None, bound="lower",
                why=f"did not run out within the sweep (stopped by its time limit): lower bound (>= {fit:g})")
