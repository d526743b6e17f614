"""Numbers for table cells: readable scales per unit, bounds as '>= X', speedups, changes against a baseline."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

GIB = 2 ** 30
BOUND_PREFIX = {"lower": ">= ", "upper": "<= "}  # results' `bound` column: the true value is at least / most this
BOUND_MARKER = ">"  # plots draw a lower bound (a search that stopped first) with this open marker


def sci(v: float) -> str:
    """1.4171e10 -> '1.42e10'; infinities as 'inf' / '-inf'."""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    mant, exp = f"{v:.2e}".split("e")
    return f"{mant}e{int(exp)}"


def fmt(value: float, unit: str = "", bound: str = "") -> str:
    """A number for a table cell, in a readable scale for its unit; '>= X' for a lower bound; missing -> '—'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if math.isinf(v):
        return ("inf" if v > 0 else "-inf") if not bound else f">= {'inf' if v > 0 else '-inf'}"
    if unit == "bytes":
        out = f"{v / GIB:.3g} GiB"
    elif unit in ("FLOP", "FLOP/s", "pairs") or abs(v) >= 1e7:
        out = sci(v) if abs(v) >= 1e4 else f"{v:.4g}"
    elif abs(v) >= 1000 or (v == int(v) and unit in ("tokens", "count", "frames", "GPU-h")):
        out = f"{v:,.0f}"
    elif v == int(v):
        out = f"{int(v)}"
    else:
        out = f"{v:.4g}"
    return BOUND_PREFIX.get(bound or "", "") + out


def fmt_pm(value: float, half: float) -> str:
    """'220.3 ± 5.3', '5,400 ± 1,200': the half-width to two significant digits and the value to the same decimal
    place (digits beyond the interval's are noise); without a positive finite half-width just ``fmt(value)``."""
    if value is None or half is None or not all(map(math.isfinite, (value, half))) or half <= 0:
        return fmt(value)
    places = 1 - math.floor(math.log10(half))
    decimals = max(places, 0)
    return f"{round(value, places):,.{decimals}f} ± {round(half, places):,.{decimals}f}"


def fmt_x(v: float) -> str:
    """A speedup: '2.31x'; missing -> '—'."""
    return "—" if v is None or pd.isna(v) else f"{v:.2f}x"


def pct_change(new: float, base: float) -> str:
    if base is None or new is None or pd.isna(base) or pd.isna(new) or base == 0:
        return "—"
    return f"{(new - base) / base * 100:+.1f}%"
