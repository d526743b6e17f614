"""Variant order, colours and line styles, so every plot and table shows the variants the same way."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

VARIANT_ORDER = ["full_sequence", "spatial_pyramid", "pyramid_ar", "ar_full_history", "pyramid_ar_bidirectional"]
VARIANT_COLORS = {"full_sequence": "#4c4c4c", "spatial_pyramid": "#1f77b4", "pyramid_ar": "#d62728",
                  "ar_full_history": "#9467bd", "pyramid_ar_bidirectional": "#ff7f0e"}
BASELINE = "full_sequence"


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
