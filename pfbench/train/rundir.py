"""A training run folder: ``config.json`` (what was asked), ``log.csv`` (one row per step), checkpoints.

::

    DIR/config.json     resolved train config, preset and model shape of the run (written once)
    DIR/log.csv         kind,step,samples,tokens,train_flops,wall_s,loss,lr,grad_norm,metric,value
    DIR/last.pt         the latest complete checkpoint (see pfbench.train.checkpoint)
    DIR/ckpt-<step>.pt  the last k checkpoints (hard links)

The log is append-only and flushed after every row. A step logged after the last checkpoint is redone on
resume, so :meth:`StepLog.open` first drops the rows past the checkpoint's step (and a torn last line): every
step appears exactly once.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from pfbench.core.files import atomic_path, atomic_write_text

LOG_FIELDS = ("kind", "step", "samples", "tokens", "train_flops", "wall_s", "loss", "lr", "grad_norm", "metric",
              "value")
# Fields of the identity that a resumed run must share with the checkpoint (the rest, e.g. steps, may change).
IDENTITY_FIELDS = ("variant", "preset", "model_config", "batch_size", "seed", "dataset_size", "stream_chunk",
                   "num_stages", "stage_mix", "gamma", "conditional", "label_dropout", "time_conditioning")


def check_same_run(stored: dict, current: dict, source: str) -> None:
    """Refuse to continue ``source`` with another variant, preset, model shape or data stream; names both."""
    for key in IDENTITY_FIELDS:
        a, b = stored.get(key), current.get(key)
        if key in stored and json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            raise ValueError(f"{source} holds a run with {key}={_short(a)} but this command asks for {key}={_short(b)}: "
                             f"use the same {key} to resume it, or choose another --out for a new run")


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def write_config(run_dir: Path, config: dict) -> Path:
    """config.json of a new run (never overwritten: a resumed run keeps the first one)."""
    path = run_dir / "config.json"
    if not path.exists():
        atomic_write_text(path, json.dumps(config, indent=2, default=str) + "\n")
    return path


class StepLog:
    """``log.csv``: one train row per completed step plus eval rows; flushed per row."""

    def __init__(self, path: Path, resume_step: int):
        self.path = Path(path)
        self._truncate_after(resume_step)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._fh, fieldnames=LOG_FIELDS)
        if new:
            self._writer.writeheader()
            self._fh.flush()

    def _truncate_after(self, step: int) -> None:
        """Keep the rows of steps <= ``step`` (rewritten atomically); a torn or foreign row is dropped."""
        if not self.path.exists():
            return
        text = self.path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]  # torn last line from a kill mid-write
        rows = list(csv.DictReader(io.StringIO("".join(lines))))
        kept = [r for r in rows if _as_int(r.get("step")) is not None and _as_int(r["step"]) <= step
                and None not in r and r.get("kind") in ("train", "eval")]
        if len(kept) == len(rows) and len(lines) == len(text.splitlines()):
            return
        with atomic_path(self.path, durable=True, single_writer=True) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=LOG_FIELDS)
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in LOG_FIELDS} for r in kept)

    def train_row(self, **row) -> None:
        self._write({"kind": "train", **row})

    def eval_row(self, step: int, metric: str, value: float, **extra) -> None:
        self._write({"kind": "eval", "step": step, "metric": metric, "value": value, **extra})

    def _write(self, row: dict) -> None:
        self._writer.writerow({k: _fmt(row.get(k)) for k in LOG_FIELDS})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # full precision: the loss curve is compared across runs
    return v


def _as_int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def read_log(path: str | os.PathLike) -> list[dict]:
    """Rows of a log.csv as dicts (strings as written)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def run_losses(run_dir: str | os.PathLike) -> list[float]:
    """The training loss of every logged step of a run folder, in step order."""
    path = Path(run_dir) / "log.csv"
    if not path.exists():
        return []
    rows = [r for r in read_log(path) if r.get("kind") == "train"]
    return [float(r["loss"]) for r in sorted(rows, key=lambda r: int(r["step"]))]
