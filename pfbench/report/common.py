"""What every report section shares: number formatting, variant order and colours, and the ReportContext a
section reads (the run's tidy table, suite statuses, resolved config and environment)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

VARIANT_ORDER = ["full_sequence", "spatial_pyramid", "pyramid_ar", "ar_full_history", "pyramid_ar_bidirectional"]
VARIANT_COLORS = {"full_sequence": "#4c4c4c", "spatial_pyramid": "#1f77b4", "pyramid_ar": "#d62728",
                  "ar_full_history": "#9467bd", "pyramid_ar_bidirectional": "#ff7f0e"}
BASELINE = "full_sequence"
GIB = 2 ** 30
BOUND_PREFIX = {"lower": ">= ", "upper": "<= "}  # results' `bound` column: the true value is at least / most this
BOUND_MARKER = ">"  # plots draw a lower bound (a search that stopped first) with this open marker


def sci(v: float) -> str:
    """1.4171e10 -> '1.42e10'."""
    mant, exp = f"{v:.2e}".split("e")
    return f"{mant}e{int(exp)}"


def fmt(value: float, unit: str = "", bound: str = "") -> str:
    """A number for a table cell, in a readable scale for its unit; '>= X' for a lower bound; missing -> '—'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
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


def fmt_x(v: float) -> str:
    """A speedup: '2.31x'; missing -> '—'."""
    return "—" if v is None or pd.isna(v) else f"{v:.2f}x"


def pct_change(new: float, base: float) -> str:
    if base is None or new is None or pd.isna(base) or pd.isna(new) or base == 0:
        return "—"
    return f"{(new - base) / base * 100:+.1f}%"


def order_variants(variants) -> list[str]:
    known = [v for v in VARIANT_ORDER if v in set(variants)]
    return known + sorted(v for v in set(variants) if v not in VARIANT_ORDER)


def color(variant: str, i: int = 0) -> str:
    return VARIANT_COLORS.get(variant, plt.get_cmap("tab10")(i % 10))


_LINESTYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "D", "v", "P"]


def line_style(variant: str, i: int) -> dict:
    """Colour, marker and dash per variant, so curves that coincide stay distinguishable."""
    k = VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else i
    return dict(color=color(variant, i), marker=_MARKERS[k % len(_MARKERS)], ls=_LINESTYLES[k % len(_LINESTYLES)],
                ms=5, mfc="none" if k % 2 else None, lw=1.8)


def plain_log_axis(axis) -> None:
    """Log axis with plain-number tick labels (2, 4, 8, ... rather than 2^1)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))


@dataclass
class ReportContext:
    """What every section reads: the run's table, statuses, config and where plots go."""

    run_dir: Path
    df: pd.DataFrame
    statuses: pd.DataFrame
    config: dict
    env: dict
    shown: set = field(default_factory=set)   # row indices a section displayed

    @property
    def plots_dir(self) -> Path:
        path = self.run_dir / "plots"
        path.mkdir(exist_ok=True)
        return path

    def rows(self, suite: str, **where) -> pd.DataFrame:
        """Rows of a suite, filtered by column equality (a list value means 'one of')."""
        d = self.df[self.df["suite"] == suite]
        for col, val in where.items():
            d = d[d[col].isin(val)] if isinstance(val, (list, tuple, set)) else d[d[col] == val]
        return d

    def mark(self, d: pd.DataFrame) -> pd.DataFrame:
        self.shown.update(d.index)
        return d

    def save(self, fig, name: str) -> Path:
        path = self.plots_dir / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path

    def setting(self, key: str, default=None):
        """A resolved run setting: config["overrides"][key] (env/CLI, e.g. the memory budget), else the preset's."""
        overrides = self.config.get("overrides") or {}
        if key in overrides and overrides[key] is not None:
            return overrides[key]
        return (self.config.get("preset") or {}).get(key, default)

    def suite_state(self, suite: str) -> str:
        """Why a suite has no data: its status note, or 'not run'."""
        st = self.statuses[self.statuses["suite"] == suite] if not self.statuses.empty else self.statuses
        if st.empty:
            return f"the {suite} suite was not run in this run"
        row = st.iloc[0]
        note = f": {row['note']}" if row.get("note") else ""
        return f"the {suite} suite's status is {row['status']}{note}"


def value_of(d: pd.DataFrame, **where) -> float:
    """The first non-missing value of the rows matching ``where``; NaN when none."""
    for col, val in where.items():
        d = d[d[col] == val]
    d = d[d["value"].notna()]
    return float(d["value"].iloc[0]) if len(d) else float("nan")


def bound_of(d: pd.DataFrame, **where) -> str:
    """The `bound` ("" / "lower" / "upper") of the row value_of would pick; "" for tables without the column."""
    if "bound" not in d.columns:
        return ""
    for col, val in where.items():
        d = d[d[col] == val]
    d = d[d["value"].notna()]
    return str(d["bound"].iloc[0] or "") if len(d) else ""
