"""FLOPs of one forward of the real module, counted with FlopCounterMode on the meta device (no memory, no time),
split into the card's terms (pfbench.accounting.card_flops.card_forward_flops) by module name.

Each operator is charged to the innermost module that ran it, then that module's name picks the term. Rules are
ordered; the first that matches wins. Per-sample vectors (pooled text, guidance, the refiner's own time) land in
``time``; the card does not count them (card_flops.NOT_COUNTED), which shows as that term's difference.
"""
from __future__ import annotations

import re

TERM_RULES: tuple[tuple[str, str], ...] = (
    (r"time_text_embed|timestep_embedder|time_embedder|time_embedding|guidance_embedder", "time"),
    (r"(^|\.)attn2(\.|$)", "cross_attention"),
    (r"context_embedder|caption_projection|text_embedder|text_proj|caption_proj|^time_embed\.pooler", "text"),
    (r"^(patch_embedding|proj_in|x_embedder|patch_embed)", "embed"),
    (r"^(proj_out|norm_out)", "final"),
    (r"norm|time_proj|^time_embed\.linear", "modulation"),
    (r"(^|\.)attn\d?$", "attention"),
    (r".", "linear"),
)
TERMS = ("embed", "time", "modulation", "linear", "attention", "cross_attention", "text", "final")


def term_of(module: str) -> str:
    """The card term of a module path relative to the transformer ('' is the transformer itself: 'other')."""
    for pattern, term in TERM_RULES:
        if re.search(pattern, module):
            return term
    return "other"


def own_flops(per_module: dict[str, dict]) -> dict[str, int]:
    """FlopCounterMode's per-module totals (each module includes its children) -> FLOPs of each module alone."""
    totals = {name: sum(ops.values()) for name, ops in per_module.items() if name != "Global"}
    own = {}
    for name, total in totals.items():
        inner = [c for c in totals if c.startswith(name + ".")]
        direct = [c for c in inner if not any(c.startswith(o + ".") for o in inner if o != c)]
        own[name] = total - sum(totals[c] for c in direct)
    return own


def count_terms(adapter, latent: tuple[int, int, int, int], batch: int = 1) -> dict:
    """FLOPs of one model evaluation of ``adapter`` (on meta) at latent (C, T, h, w), by card term, with 'total'."""
    import torch

    from pfbench.measure.flops import flop_counter
    from reference_model.layout import clip_layout
    C, T, h, w = latent
    device = next(adapter.transformer.parameters()).device
    x = torch.zeros((batch, C, T, h, w), device=device)
    layout = clip_layout(T, h, w, adapter.cfg.patch_size)
    from torch.fx.experimental import _config as fx_config
    # every text token is valid (the mask is all ones), so a data-dependent nonzero() on it is all-nonzero (Mochi)
    with torch.no_grad(), fx_config.patch(meta_nonzero_assume_all_nonzero=True), flop_counter() as fc:
        adapter([x], layout, torch.full((batch,), 0.5, device=device))
    root = type(adapter).__name__ + ".transformer"
    terms = dict.fromkeys(TERMS, 0)
    for name, flops in own_flops(fc.get_flop_counts()).items():
        if not flops:
            continue
        rel = name[len(root) + 1:] if name.startswith(root + ".") else ""
        term = term_of(rel) if rel else "other"
        terms[term] = terms.get(term, 0) + flops
    terms["total"] = fc.get_total_flops() // batch
    return {k: (v // batch if k != "total" else v) for k, v in terms.items()}


def counted_vs_card(card, adapter, frames: int, height: int, width: int) -> dict:
    """The card's analytic terms and the module's counted terms at one pixel video, with each difference."""
    from pfbench.accounting.card_flops import card_forward_flops, stage_geometry
    geo = stage_geometry(card, frames, height, width)
    analytic = card_forward_flops(card, geo["tokens"])
    counted = count_terms(adapter, (adapter.cfg.in_channels, geo["latent_frames"], geo["latent_height"],
                                    geo["latent_width"]))
    keys = [k for k in dict.fromkeys([*analytic, *counted]) if k != "total"] + ["total"]
    diff = {k: counted.get(k, 0) - analytic.get(k, 0) for k in keys}
    return {"video": f"{frames}x{height}x{width}", "tokens": geo["tokens"], "analytic": analytic, "counted": counted,
            "difference": diff, "relative_difference": diff["total"] / analytic["total"]}


def weights_config(card, weights) -> dict:
    """The transformer config of a local diffusers folder (checked: this card's class, safetensors only)."""
    import json

    from pfbench.models.build import check_weights_dir, diffusers_spec
    class_name, _ = diffusers_spec(card)
    folder = check_weights_dir(weights, class_name)
    return {k: v for k, v in json.loads((folder / "config.json").read_text()).items() if not k.startswith("_")}


def counted_stages(card, per_stage: list[dict], branches: int = 1, weights=None) -> dict:
    """FlopCounterMode on the card's diffusers module (meta device) at every stage's latent size.

    ``per_stage``: card_flops.schedule_report's stages (latent sizes, steps, analytic terms per step). Returns the
    counted total, per-stage counts and terms, each term's difference (counted - analytic), and what was counted.
    """
    from pfbench.models.build import build_adapter, diffusers_spec, require_diffusers
    class_name, _ = diffusers_spec(card)
    diffusers = require_diffusers()
    config = weights_config(card, weights) if weights else None
    adapter = build_adapter(card, device="meta", config=config)
    stages, total = [], 0
    for st in per_stage:
        terms = count_terms(adapter, (adapter.cfg.in_channels, st["latent_frames"], st["latent_height"],
                                      st["latent_width"]))
        analytic = {**st["flops_per_step_terms"], "total": st["flops_per_step"] // branches}
        flops = terms["total"] * branches * st["steps"]
        total += flops
        stages.append({"counted_flops_per_step": terms["total"] * branches, "counted_flops": flops,
                       "counted_terms": terms,
                       "difference_terms": {k: terms.get(k, 0) - analytic.get(k, 0)
                                            for k in dict.fromkeys([*analytic, *terms])}})
    return {"counted_inference_flops": total, "counted_per_stage": stages,
            "counted_by": f"torch FlopCounterMode over diffusers {diffusers.__version__} {class_name} "
                          f"({'config of ' + str(weights) if weights else 'the card config'}) on the meta device, "
                          f"{card.text_tokens} text tokens; 1 MAC = 2 FLOPs"}
