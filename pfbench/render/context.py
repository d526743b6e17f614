"""The ReportContext a section reads (the run's tidy table, suite statuses, resolved config and environment, where
plots go) and the one row lookup sections and verdicts share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pfbench.render.blocks import Block, text


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


def no_data(ctx: ReportContext, suite: str, what: str) -> Block:
    return text(f"_No {what} in this run ({ctx.suite_state(suite)})._")
