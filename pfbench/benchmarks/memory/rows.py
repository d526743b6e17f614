"""The memory sweep's points as tidy result rows: peak memory per size, the out-of-memory frontier of each ladder
(a lower bound when a time cap ended the search), and the bytes each extra frame costs."""
from __future__ import annotations

import math

from pfbench.benchmarks.memory.frontier import frontier_summary

FIT_METRIC = {"frames_sweep": ("max_frames_fit", "frames"), "resolution_sweep": ("max_tokens_per_frame_fit", "tokens")}


# --------------------------------------------------------------------------------------------------- rows
def _gib(n: float | None) -> str:
    return "?" if n is None else f"{n / 2**30:.3f} GiB"


def points_to_rows(variant: str, points: list[dict], *, device_kind: str, budget_bytes: int) -> list[dict]:
    """Tidy rows for the measured points of one variant (both sweeps).

    CPU: ``peak_memory_bytes`` = absolute child peak RSS, ``peak_memory_increase_bytes`` = peak minus the
    child's RSS just before that step (both backend ``child_peak_rss``). CUDA: ``peak_memory_bytes`` once per
    backend (max allocated, max reserved, NVML device used) and the increase of max allocated over the model.
    An out-of-memory is a row with value None and status "oom"; a time-capped size is status "skipped".
    """
    cuda = device_kind == "cuda"
    primary = "cuda_max_allocated" if cuda else "child_peak_rss"
    rows = []
    for p in points:
        base = dict(case=p["sweep"], variant=variant, unit="bytes", x_name=p["x_name"], x_value=p["x_value"])
        shape = (f"T={p['frames']} H={p['height']} W={p['width']}, {p['tokens']} tokens in the largest layout")
        if p["status"] != "ok":
            why = (f"exceeded the {_gib(budget_bytes)} budget" if p["status"] == "oom" else p["status"])
            rows.append(dict(base, metric="peak_memory_bytes", value=None, backend=primary, status=p["status"],
                             note=f"{why} at {shape}: {p.get('message', '')}"))
            continue
        note = shape + (f"; step {p['step_s']:.2f} s" if p.get("step_s") is not None else "")
        if cuda:
            for backend, key in (("cuda_max_allocated", "max_allocated_bytes"),
                                 ("cuda_max_reserved", "max_reserved_bytes"),
                                 ("nvml_device_used", "nvml_device_used_bytes")):
                if p.get(key) is not None:
                    extra = "; whole device, all processes, CUDA context included" if key.startswith("nvml") else ""
                    rows.append(dict(base, metric="peak_memory_bytes", value=int(p[key]), backend=backend,
                                     status="ok", note=note + extra))
            increase_note = "max allocated minus the bytes allocated after the model was on the device"
        else:
            running = "" if p.get("hwm_reset", True) else "; running maximum over this and smaller sizes"
            rows.append(dict(base, metric="peak_memory_bytes", value=int(p["peak_rss_bytes"]), backend=primary,
                             status="ok", note="absolute peak RSS of the child (interpreter, torch, model, step); "
                                               + note + running))
            increase_note = "peak RSS minus the child's RSS right after model creation"
        if p.get("increase_bytes") is not None:
            rows.append(dict(base, metric="peak_memory_increase_bytes", value=int(p["increase_bytes"]),
                             backend=primary, status="ok", note=increase_note))
    return rows


def fit_rows(variant: str, points: list[dict], *, device_kind: str, budget_bytes: int) -> list[dict]:
    """Per sweep: the largest size that fits (max_frames_fit / max_tokens_per_frame_fit), from the frontier search.

    ``bound`` "" when the next size on the ladder ran out (the frontier itself), "lower" when the search ended
    before that (time cap, the ladder's cap, an error): the true frontier is at least the value. Status "ok" unless
    nothing fitted ("oom") or nothing was measured ("error").
    """
    backend = "cuda_max_allocated" if device_kind == "cuda" else "child_peak_rss"
    rows = []
    for sweep, (metric, unit) in FIT_METRIC.items():
        ps = [p for p in points if p["sweep"] == sweep]
        if not ps:
            continue
        found = frontier_summary(ps)
        value = found["fit"]
        status = "ok" if value is not None else ("oom" if found["oom"] is not None else "error")
        note = found["why"] + (f" (budget {_gib(budget_bytes)})" if found["oom"] is not None else "")
        rows.append(dict(case=sweep, variant=variant, metric=metric, value=value, unit=unit, backend=backend,
                         bound=found["bound"] if value is not None else "", x_name=None, x_value=None,
                         status=status, note=note))
    return rows


def per_frame_bytes(points: list[dict], key: str = "increase_bytes") -> float | None:
    """Least-squares slope of ``key`` against latent frames over the ok points of the frame sweep (bytes/frame)."""
    ok = [(p["frames"], p[key]) for p in points
          if p["sweep"] == "frames_sweep" and p["status"] == "ok" and p.get(key) is not None]
    if len(ok) < 2:
        return None
    n = len(ok)
    mx = sum(x for x, _ in ok) / n
    my = sum(y for _, y in ok) / n
    sxx = sum((x - mx) ** 2 for x, _ in ok)
    if sxx == 0 or math.isnan(sxx):
        return None
    return sum((x - mx) * (y - my) for x, y in ok) / sxx
