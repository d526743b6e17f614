"""The models suite's driver: one family's rows (forward per stage, measured vs predicted cost, sampler saving)."""
from __future__ import annotations

from pfbench.benchmarks.models.plan import ModelsPlan


def _stage_shapes(plan: ModelsPlan, patch: int) -> list[tuple[int, int, int]]:
    """Latent (T, h, w) of a 3-stage spatial pyramid, lowest first; the full stage is side x patch on each side."""
    side = plan.side * patch
    return [(plan.frames, side >> 2, side >> 2), (plan.frames, side >> 1, side >> 1), (plan.frames, side, side)]


def family_rows(card_name: str, plan: ModelsPlan, device: str = "cpu", dtype=None, seed: int = 0) -> list[dict]:
    """Build the card's diffusers transformer (the plan's config), time one forward at each stage's latent size and
    both samplers end to end, and count FLOPs of the same config on the meta device for the predictions.
    On CPU the timing runs with ``plan.cpu_threads`` intra-op threads (restored after)."""
    import torch
    threads = torch.get_num_threads()
    if not device.startswith("cuda") and plan.cpu_threads:
        torch.set_num_threads(plan.cpu_threads)
    try:
        return _family_rows(card_name, plan, device, dtype, seed)
    finally:
        torch.set_num_threads(threads)


def _family_rows(card_name: str, plan: ModelsPlan, device: str, dtype, seed: int) -> list[dict]:
    import torch

    from pfbench.accounting.arch_cards import load_card
    from pfbench.measure.memory import track_memory
    from pfbench.measure.timing import time_fn
    from pfbench.models.build import build_adapter, reduced_config
    from pfbench.models.counting import count_terms, counted_vs_card
    from reference_model.layout import clip_layout
    from reference_model.samplers import euler_full_sequence, euler_pyramid

    dtype = dtype or torch.float32
    card = load_card(card_name)
    config = None if plan.full else reduced_config(card, plan.layers, plan.heads, plan.head_dim, plan.text_dim)
    text_tokens = card.text_tokens if plan.full else plan.text_tokens
    adapter = build_adapter(card, device, dtype, seed, config=config, text_tokens=text_tokens, text="random")
    meta = build_adapter(card, "meta", config=config, text_tokens=text_tokens)
    C, p = adapter.cfg.in_channels, adapter.cfg.patch_size
    shapes = _stage_shapes(plan, p)
    gen = torch.Generator().manual_seed(seed)
    note = (f"{adapter.describe()}; {plan.config_name()}; full-size latent {'x'.join(map(str, shapes[-1]))}, "
            f"batch 1, {str(dtype).replace('torch.', '')} on {device}"
            f"{f' ({torch.get_num_threads()} thread)' if not device.startswith('cuda') else ''}")
    base = dict(case=card.name, note=note)
    rows, seconds, flops = [], [], []
    cuda = device.startswith("cuda")
    for k, (T, h, w) in enumerate(shapes):
        x = torch.randn((1, C, T, h, w), generator=gen).to(device, dtype)            # (1, C, T, h, w)
        layout, t = clip_layout(T, h, w, p), torch.full((1,), 0.5, device=device)
        with torch.no_grad(), track_memory(device) as mem:
            timing = time_fn(lambda x=x, layout=layout, t=t: adapter([x], layout, t), device=device, warmup=1,
                             repeats=plan.forward_repeats)
        f = count_terms(meta, (C, T, h, w))["total"]
        seconds.append(timing.median_s)
        flops.append(f)
        stage = dict(base, variant=f"stage{k + 1}", note=f"latent {T}x{h}x{w}; " + note)
        peak = mem.result.max_allocated_bytes if cuda else None
        rows += [dict(stage, metric="forward_s", value=timing.median_s, unit="s", backend="measured",
                      spread=timing.wall.iqr_s, rounds=plan.forward_repeats),
                 dict(stage, metric="peak_memory_bytes", value=peak, unit="bytes",
                      backend="cuda-max-memory-allocated" if cuda else "none", status="ok" if cuda else "skipped",
                      **({} if cuda else {"note": "CPU: in-process peak RSS is the process's lifetime peak, not this "
                                                  "forward's; measured on CUDA"})),
                 dict(stage, metric="counted_flops", value=f, unit="FLOP", backend="flop-counter")]
    for k in range(len(shapes)):
        measured, predicted = seconds[k] / seconds[-1], flops[k] / flops[-1]
        stage = dict(base, variant=f"stage{k + 1}", note=f"latent {'x'.join(map(str, shapes[k]))}; " + note)
        rows += [dict(stage, metric="stage_cost_measured", value=measured, unit="fraction", backend="measured"),
                 dict(stage, metric="stage_cost_predicted", value=predicted, unit="fraction", backend="flop-counter"),
                 dict(stage, metric="stage_cost_measured_over_predicted", value=measured / predicted, unit="ratio",
                      backend="measured")]

    full_noise = torch.randn((1, C, *shapes[-1]), generator=gen).to(device, dtype)
    coarse_noise = torch.randn((1, C, *shapes[0]), generator=gen).to(device, dtype)

    def full():
        return euler_full_sequence(adapter, full_noise, steps=plan.full_steps)

    def pyramid():
        return euler_pyramid(adapter, coarse_noise, steps_per_stage=plan.pyramid_steps,
                             generator=torch.Generator(device=device).manual_seed(seed))

    runs = {"full_sequence": [], "pyramid": []}
    with torch.no_grad():
        for _ in range(plan.sampler_repeats):          # interleaved rounds: a load change hits both alike
            runs["full_sequence"].append(time_fn(full, device=device, warmup=0, repeats=1).median_s)
            runs["pyramid"].append(time_fn(pyramid, device=device, warmup=0, repeats=1).median_s)
    steps = {"full_sequence": f"{plan.full_steps} full-size steps",
             "pyramid": f"{'-'.join(map(str, plan.pyramid_steps))} steps over the 3 stages"}
    sample_flops = {"full_sequence": plan.full_steps * flops[-1],
                    "pyramid": sum(n * f for n, f in zip(plan.pyramid_steps, flops))}
    median = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
    for variant in runs:
        v = dict(base, variant=variant, note=f"{steps[variant]}; " + note)
        rows += [dict(v, metric="sample_s", value=median[variant], unit="s", backend="measured",
                      rounds=plan.sampler_repeats),
                 dict(v, metric="sample_flops", value=sample_flops[variant], unit="FLOP", backend="flop-counter")]
    schedule = f"{steps['pyramid']} vs {steps['full_sequence']}; " + note
    rows += [dict(base, variant="pyramid", metric="pyramid_saving_measured", unit="fraction", backend="measured",
                  value=1 - median["pyramid"] / median["full_sequence"], note=schedule),
             dict(base, variant="pyramid", metric="pyramid_saving_predicted", unit="fraction", backend="flop-counter",
                  value=1 - sample_flops["pyramid"] / sample_flops["full_sequence"], note=schedule)]
    if plan.count_full_config:
        rows += full_config_rows(card, counted_vs_card, build_adapter)
    return rows


def full_config_rows(card, counted_vs_card, build_adapter) -> list[dict]:
    """The card's analytic FLOPs and the module's counted ones for the full config at the native video."""
    r = counted_vs_card(card, build_adapter(card, device="meta"), card.native_frames, card.native_height,
                        card.native_width)
    note = f"full config at the native video {r['video']} ({r['tokens']} tokens), one forward, meta device"
    differing = ", ".join(f"{k} {v:+.3g}" for k, v in r["difference"].items() if v and k != "total")
    base = dict(case=card.name, variant="full_config")
    return [dict(base, metric="forward_flops", value=r["analytic"]["total"], unit="FLOP", backend="analytic",
                 note=note),
            dict(base, metric="forward_flops", value=r["counted"]["total"], unit="FLOP", backend="flop-counter",
                 note=note),
            dict(base, metric="counted_vs_analytic", value=r["relative_difference"], unit="fraction",
                 backend="flop-counter", note=f"{note}; terms that differ: {differing or 'none'}")]
