"""Report sections that belong to no single benchmark: the header (network, data, device), the suite statuses,
and everything that did not produce a number.
"""
from __future__ import annotations

from pfbench.render.blocks import Block, bullets, table, text
from pfbench.render.context import ReportContext
from pfbench.render.format import fmt


def run_header(ctx: ReportContext) -> list[Block]:
    """Three lines a number is only as good as: the network, the data, the device; then where it came from."""
    c, e = ctx.config, ctx.env
    p = c.get("preset") or {}
    net = f"network: `{p.get('model', '?')}` DiT"
    from reference_model.dit import DIT_PRESETS

    m = DIT_PRESETS.get(p.get("model"))
    if m is not None:  # a run folder of another version may name a backbone this one lacks
        net += (f", {m.depth} layers x width {m.hidden_size}, {m.num_heads} heads, patch {p.get('patch_size', '?')}, "
                f"{p.get('channels', '?')} latent channels")
    net += f"; K = {p.get('stages', '?')} pyramid stages"
    data = (f"data: preset `{p.get('name', '?')}` ({p.get('description', '')}); latents {p.get('channels', '?')} x "
            f"{p.get('frames', '?')} x {p.get('height', '?')} x {p.get('width', '?')} (C x T x H x W)"
            + ("; on CPU the procedural/real clips are the latents (no VAE)" if c.get("device") == "cpu" else "")
            + f"; seed {c.get('seed', '?')}")
    machine = e.get("gpu_name") or e.get("cpu_model") or "?"
    device = (f"device: `{c.get('device', '?')}` ({machine}), dtype `{c.get('dtype', '?')}`; torch "
              f"{e.get('torch_version', '?')}")
    where = (f"run `{c.get('run_id', ctx.run_dir.name)}`, started {c.get('started', '?')}, commit "
             f"`{c.get('commit') or '?'}`; {len(ctx.df)} rows in `results.parquet`")
    # The place for one line on the machine's load while the suites ran: after the device, before the run line
    # (the first screen has room for exactly one more short line here).
    return [bullets([net, data, device, where])]


def section_suites(ctx: ReportContext) -> list[Block]:
    """Each suite's status, duration and row count."""
    if ctx.statuses.empty:
        return [text("_No suite status files (status/*.json) in this folder._")]
    st = ctx.statuses.copy()
    st["duration_s"] = st["duration_s"].map(lambda v: fmt(v))
    counts = ctx.df.groupby("suite").size()
    st["rows"] = st["suite"].map(lambda s: int(counts.get(s, 0)))
    return [table(st[["suite", "status", "duration_s", "rows", "note", "log"]])]


def section_skipped(ctx: ReportContext) -> list[Block]:
    items = []
    if not ctx.statuses.empty:
        for r in ctx.statuses.itertuples():
            if r.status != "passed":
                items.append(f"suite **{r.suite}**: {r.status}" + (f": {r.note}" if r.note else "") +
                             (f" (log: `{r.log}`)" if r.log else ""))
    planned = (ctx.config or {}).get("suites") or []
    have = set(ctx.statuses["suite"]) if not ctx.statuses.empty else set()
    items += [f"suite **{s}**: not run (no status file; continue with `pfbench run --resume {ctx.run_dir}`)"
              for s in planned if s not in have]
    bad = ctx.df[ctx.df["status"].isin(["skipped", "error"])]
    for (suite, metric, status, note), grp in bad.groupby(["suite", "metric", "status", "note"], sort=False):
        where = ", ".join(sorted(set(f"{c}/{v}" if v else c for c, v in zip(grp["case"], grp["variant"]))))
        items.append(f"{suite} `{metric}` {status} ({where}): {note or 'no reason given'}")
    items += _pytest_skips(ctx)
    return [text("Everything that did not produce a number, with the reason and how to enable it."),
            bullets(items or ["nothing was skipped"])]


def _pytest_skips(ctx: ReportContext) -> list[str]:
    """'SKIPPED [n] file:line: reason' lines from the suites' pytest logs."""
    out = []
    for log in sorted((ctx.run_dir / "logs").glob("*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("SKIPPED"):
                out.append(f"{log.stem} (pytest): {line[len('SKIPPED'):].strip()}")
    return out


