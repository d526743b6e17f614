"""FLOPs, parameters and pyramid schedules for any architecture card (pfbench/accounting/arch_cards.py).

Closed-form arithmetic on shapes, like pfbench/accounting.py, whose conventions it keeps: 1 MAC = 2 FLOPs,
a training step = 3x the forward, attention costs 4 * D per allowed (query, key) pair (QK^T and AV).
For the reference backbone's own shape (``arch_cards.backbone_card``) ``card_forward_flops`` equals
``accounting.forward_flops`` term by term, and tests check both against FlopCounterMode.

A schedule is a list of stages, lowest resolution first, each with its own pixel frame count, size and
Euler steps: one stage is full-resolution diffusion; K spatially halved stages are the paper's spatial
pyramid; stages with fewer frames as well are a spatio-temporal pyramid. Each stage runs the whole clip
at its size with bidirectional attention (the renoising jumps between stages cost no model FLOPs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pfbench.accounting.arch_cards import ArchCard

COUNTED = ("linear layers of every block (QKV, output, FFN; a gated FFN as three matrices)",
           "self-attention over all video-token pairs (4 * D FLOPs per pair)",
           "cross-attention to text tokens (Q/output on video tokens, K/V on text tokens, 4 * D per pair)",
           "joint attention with text tokens (text tokens through the block's linears; pairs among all tokens)",
           "text K/V projections recomputed at every model evaluation (as the public code does)",
           "patch embedding, time-embedding MLP, adaLN modulation per sample, final layer on output tokens",
           "text projection / refiner blocks on the text tokens, once per model evaluation")
NOT_COUNTED = ("VAE encode/decode", "text encoder", "norms, RoPE, softmax, activations and other elementwise ops",
               "pooled-text and guidance embedders (per-sample vectors)", "renoising jumps between stages")


@dataclass(frozen=True)
class Stage:
    """One stage of a schedule: pixel frames x height x width (latent units for a card without a VAE), steps."""

    frames: int
    height: int
    width: int
    steps: int


# --------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------
def parse_fhw(text: str, option: str = "--video") -> tuple[int, int, int]:
    """'81x448x832' -> (81, 448, 832)."""
    try:
        f, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected FRAMESxHEIGHTxWIDTH in pixels, e.g. 81x480x832") from None
    if min(f, h, w) < 1:
        raise ValueError(f"{option} {text!r}: frames, height and width must be positive")
    return f, h, w


def nearest_multiples(size: int, unit: int) -> tuple[int, ...]:
    """The multiples of ``unit`` nearest to ``size``: itself when it divides, else the two around it, nearest first
    (ties: the smaller first)."""
    below = size - size % unit
    around = [v for v in (below, below + unit) if v >= unit]
    return (size,) if size % unit == 0 else tuple(sorted(around, key=lambda v: (abs(v - size), v)))


def nearest_frames(card: ArchCard, frames: int) -> tuple[int, ...]:
    """The valid pixel frame counts nearest to ``frames`` (1 + t n for a causal VAE, t n otherwise)."""
    offset, t = int(card.vae_causal), card.vae_temporal
    return tuple(v + offset for v in nearest_multiples(max(frames - offset, t), t))


def nearest_video(card: ArchCard, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """The valid pixel video nearest to F x H x W (frames through the VAE, sides through VAE x patch; ties down)."""
    s = card.vae_spatial
    return (nearest_frames(card, frames)[0], nearest_multiples(height, s * card.patch_h)[0],
            nearest_multiples(width, s * card.patch_w)[0])


def latent_frames(card: ArchCard, frames: int, option: str = "--video") -> int:
    """Pixel frames -> latent frames: 1 + (F - 1) / t for a causal VAE (first frame kept), F / t otherwise."""
    t = card.vae_temporal
    near = " or ".join(map(str, nearest_frames(card, frames)))
    if card.vae_causal:
        if (frames - 1) % t or frames < 1:
            raise ValueError(f"{option}: {frames} frames do not fit {card.name}'s causal VAE (1 + {t}n frames): "
                             f"nearest that fit: {near}")
        return 1 + (frames - 1) // t
    if frames % t:
        raise ValueError(f"{option}: {frames} frames are not a multiple of {card.name}'s VAE stride {t}: "
                         f"nearest that fit: {near}")
    return frames // t


def stage_geometry(card: ArchCard, frames: int, height: int, width: int, option: str = "--video") -> dict:
    """Latent frames/size and token counts of a pixel video under the card's VAE and patch."""
    lf = latent_frames(card, frames, option)
    s = card.vae_spatial
    for name, size, p in (("height", height, card.patch_h), ("width", width, card.patch_w)):
        if size % (s * p):
            near = " or ".join(map(str, nearest_multiples(size, s * p)))
            raise ValueError(f"{option}: {name} {size} is not a multiple of {s * p} ({card.name}: VAE {s} x patch "
                             f"{p}): nearest that divide: {near}")
    if lf % card.patch_t:
        raise ValueError(f"{option}: {lf} latent frames are not a multiple of the temporal patch {card.patch_t}")
    tokens_per_frame = (height // s // card.patch_h) * (width // s // card.patch_w)
    token_frames = lf // card.patch_t
    return {"frames": frames, "height": height, "width": width, "latent_frames": lf, "latent_height": height // s,
            "latent_width": width // s, "token_frames": token_frames, "tokens_per_frame": tokens_per_frame,
            "tokens": token_frames * tokens_per_frame}


def pyramid_stage_sizes(card: ArchCard, video: tuple[int, int, int], k: int) -> list[dict]:
    """K spatial stages, lowest first: the video's height and width halved K - 1 - i times, each rounded to the
    nearest size that VAE x patch divides (ties down); ``exact`` is the unrounded halving, for the output."""
    if k < 1:
        raise ValueError(f"--stages {k}: need at least one stage")
    F, H, W = video
    uh, uw = card.vae_spatial * card.patch_h, card.vae_spatial * card.patch_w
    out = []
    for i in range(k):
        div = 2 ** (k - 1 - i)
        h, w = (max(u, u * math.floor(size / div / u + 0.5 - 1e-9)) for size, u in ((H, uh), (W, uw)))
        out.append({"shape": (F, h, w), "exact": (H / div, W / div), "unit": (uh, uw)})
    return out


def build_schedule(card: ArchCard, video: tuple[int, int, int], stages=None, steps=(50,)) -> list[Stage]:
    """Stages lowest resolution first. ``stages``: None (one full-resolution stage), an int K (spatial halving
    K - 1 times, all frames, each side rounded to the nearest size that divides: pyramid_stage_sizes), or a list
    of (F, H, W) ending at ``video``. ``steps``: one value per stage, or one value for all."""
    if stages is None:
        shapes = [video]
    elif isinstance(stages, int):
        shapes = [st["shape"] for st in pyramid_stage_sizes(card, video, stages)]
    else:
        shapes = [tuple(s) for s in stages]
        if shapes[-1] != tuple(video):
            raise ValueError(f"--stages: the last stage {'x'.join(map(str, shapes[-1]))} must equal --video "
                             f"{'x'.join(map(str, video))} (stages are listed lowest resolution first)")
    steps = tuple(steps)
    if len(steps) == 1:
        steps = steps * len(shapes)
    if len(steps) != len(shapes):
        raise ValueError(f"--steps gives {len(steps)} values for {len(shapes)} stages: give one per stage or one")
    if min(steps) < 1:
        raise ValueError(f"--steps {','.join(map(str, steps))}: every stage needs at least one step")
    return [Stage(f, h, w, n) for (f, h, w), n in zip(shapes, steps)]


# --------------------------------------------------------------------------------------------------
# FLOPs and parameters
# --------------------------------------------------------------------------------------------------
def _linear_per_token(card: ArchCard, ffn_hidden: int | None = None, gated: bool | None = None) -> int:
    D, M = card.hidden_size, card.ffn_hidden if ffn_hidden is None else ffn_hidden
    g = 3 if (card.ffn_gated if gated is None else gated) else 2
    return 2 * D * 4 * D + g * 2 * D * M      # QKV + output projection, FFN matrices


def _text_stream_per_token(card: ArchCard) -> int:
    """Linear FLOPs per text token of a dual block: Q/K/V from the text width to D, output back, its own FFN."""
    D, Dc = card.hidden_size, card.text_hidden_size or card.hidden_size
    Mc = card.text_ffn_hidden or card.ffn_hidden
    g = 3 if card.ffn_gated else 2
    return 2 * 3 * Dc * D + 2 * D * Dc + g * 2 * Dc * Mc


def _text_stream_tail(card: ArchCard) -> int:
    """Per text token, what a context-pre-only last block skips: the text output projection and the text FFN."""
    D, Dc = card.hidden_size, card.text_hidden_size or card.hidden_size
    Mc = card.text_ffn_hidden or card.ffn_hidden
    g = 3 if card.ffn_gated else 2
    return 2 * D * Dc + g * 2 * Dc * Mc


def joint_pairs(pairs: int, tokens: int, text_tokens: int) -> int:
    """Pairs of joint attention: the video pairs plus every video<->text pair and all text<->text pairs."""
    return pairs + 2 * tokens * text_tokens + text_tokens * text_tokens


def card_forward_flops(card: ArchCard, tokens: int, pairs: int | None = None,
                       output_tokens: int | None = None) -> dict:
    """FLOPs of one model evaluation of one sample, by term. ``pairs``: allowed video-video pairs
    (default tokens^2, bidirectional); ``output_tokens``: tokens the final layer runs on (default all)."""
    D, Dt, Nt = card.hidden_size, card.time_dim, card.text_tokens
    pairs = tokens * tokens if pairs is None else pairs
    out_tokens = tokens if output_tokens is None else output_tokens
    patch_dim = card.latent_channels * card.patch_t * card.patch_h * card.patch_w
    per_token = _linear_per_token(card)
    terms = {"embed": 2 * tokens * patch_dim * D, "time": 2 * (card.time_freq_dim * Dt + Dt * Dt),
             "modulation": 2 * Dt * card.shared_modulation * D, "linear": 0, "attention": 0,
             "cross_attention": 0, "text": sum(2 * Nt * i * o for i, o in card.text_projection),
             "final": 2 * Dt * card.final_modulation * D + 2 * out_tokens * D * patch_dim}
    refiner = _linear_per_token(card, 4 * D, False) * Nt + 4 * D * Nt * Nt + 2 * D * 2 * D
    terms["text"] += card.text_refiner_blocks * refiner
    for g in card.blocks:
        terms["modulation"] += g.count * 2 * Dt * g.modulation * D
        terms["linear"] += g.count * tokens * per_token
        if g.text == "none":
            terms["attention"] += g.count * 4 * D * pairs
        elif g.text == "cross":
            terms["attention"] += g.count * 4 * D * pairs
            terms["cross_attention"] += g.count * (2 * tokens * D * D * 2 + 2 * Nt * D * 2 * D + 4 * D * tokens * Nt)
        elif g.text == "dual":  # own text-stream weights (possibly narrower), joint pairs
            terms["linear"] += g.count * Nt * _text_stream_per_token(card) - (
                Nt * _text_stream_tail(card) if card.text_last_block_pre_only and g is card.blocks[-1] else 0)
            terms["attention"] += g.count * 4 * D * joint_pairs(pairs, tokens, Nt)
        else:  # single stream: text tokens go through the same linears, joint pairs
            terms["linear"] += g.count * Nt * per_token
            terms["attention"] += g.count * 4 * D * joint_pairs(pairs, tokens, Nt)
    terms["total"] = sum(terms.values())
    return terms


def attention_pairs(card: ArchCard, tokens: int, pairs: int | None = None) -> int:
    """Pairs the card's attention computes per block of the first group's kind (video pairs + text pairs)."""
    pairs = tokens * tokens if pairs is None else pairs
    kinds = {g.text for g in card.blocks}
    if kinds & {"dual", "single"}:
        return joint_pairs(pairs, tokens, card.text_tokens)
    return pairs + (tokens * card.text_tokens if "cross" in kinds else 0)


def card_params(card: ArchCard) -> int:
    """Weights and biases of every linear layer (norm scales, label/positional tables excluded)."""
    D, Dt, M = card.hidden_size, card.time_dim, card.ffn_hidden
    patch_dim = card.latent_channels * card.patch_t * card.patch_h * card.patch_w

    def lin(i, o):
        return i * o + o

    attn = 4 * lin(D, D)
    ffn = (2 * lin(D, M) + lin(M, D)) if card.ffn_gated else (lin(D, M) + lin(M, D))
    total = lin(patch_dim, D) + lin(card.time_freq_dim, Dt) + lin(Dt, Dt) + lin(D, patch_dim)
    total += lin(Dt, card.shared_modulation * D) if card.shared_modulation else 0
    total += lin(Dt, card.final_modulation * D) if card.final_modulation else 0
    total += sum(lin(i, o) for i, o in card.text_projection)
    total += card.text_refiner_blocks * (attn + lin(D, 4 * D) + lin(4 * D, D) + lin(D, 2 * D))
    for g in card.blocks:
        block = attn + ffn + (lin(Dt, g.modulation * D) if g.modulation else 0)
        if g.text == "cross":
            block += attn
        elif g.text == "dual":
            Dc, Mc = card.text_hidden_size or D, card.text_ffn_hidden or M
            block += 3 * lin(Dc, D) + lin(D, Dc) + ((2 * lin(Dc, Mc) + lin(Mc, Dc)) if card.ffn_gated
                                                    else (lin(Dc, Mc) + lin(Mc, Dc)))
        total += g.count * block
    return total


def _mix(stage_mix, k: int) -> list[float]:
    """Training probability of each stage (lowest first): the given mix if it names K weights, else uniform."""
    from reference_model.objectives import stage_mix_weights
    if k == 1:
        return [1.0]
    try:
        return stage_mix_weights(stage_mix, k).tolist()[::-1]
    except ValueError:
        return [1.0 / k] * k


def schedule_report(card: ArchCard, schedule: list[Stage], cfg: bool = False, stage_mix="1:2:1") -> dict:
    """The JSON breakdown: per stage geometry, pairs, steps and FLOPs; totals; params; training FLOPs."""
    branches = 2 if cfg else 1
    per_stage, total = [], 0
    probs = _mix(stage_mix, len(schedule))
    train = 0.0
    for index, (st, p) in enumerate(zip(schedule, probs)):
        option = "--video" if len(schedule) == 1 else f"--stages (stage {index + 1})"
        geo = stage_geometry(card, st.frames, st.height, st.width, option)
        terms = card_forward_flops(card, geo["tokens"])
        flops = st.steps * terms["total"] * branches
        total += flops
        train += p * 3 * terms["total"]
        per_stage.append({**geo, "text_tokens": card.text_tokens,
                          "attention_pairs": attention_pairs(card, geo["tokens"]), "steps": st.steps,
                          "flops_per_step": terms["total"] * branches, "flops": flops,
                          "flops_per_step_terms": {k: v for k, v in terms.items() if k != "total"},
                          "train_probability": p})
    return {
        "arch": card.name, "source": card.path or "pfbench.core.config", "params": card_params(card),
        "published_params": card.published_params, "guidance_branches": branches,
        "inference_flops": total, "model_evaluations": sum(s.steps for s in schedule) * branches,
        "per_stage": per_stage, "train_flops_per_sample": train,
        "train_layout": "pyramid: one stage of the clip per sample, drawn with the stage mix" if len(schedule) > 1
                        else "full_sequence: the whole clip at full resolution",
        "assumptions": {"counted": list(COUNTED), "not_counted": list(NOT_COUNTED),
                        "conventions": "1 MAC = 2 FLOPs; training = 3x forward; each stage runs the whole clip "
                                       "with bidirectional attention; text tokens attend and are attended by all",
                        "guidance": "both classifier-free guidance branches" if cfg else
                                    "one guidance branch (pass --cfg for both)",
                        "stage_mix": [round(p, 6) for p in probs], "card_notes": list(card.notes)},
    }


def gpu_seconds(flops: float, mfu: float, gpus=("A100 SXM 80GB", "H100 SXM", "H200")) -> dict:
    """Projected seconds on each GPU's bf16 dense peak at utilisation ``mfu`` (a projection, not a measurement)."""
    from pfbench.accounting.gpus import GPU_SPECS
    if not 0 < mfu <= 1:
        raise ValueError(f"MFU must lie in (0, 1], got {mfu}")
    peaks = {spec.name: spec.bf16_flops_per_s for spec in GPU_SPECS}
    return {name: flops / (peaks[name] * mfu) for name in gpus}


def pyramid_compatible(size: int, unit: int) -> int:
    """The largest multiple of ``unit`` not above ``size`` (a size every pyramid stage divides exactly)."""
    return max(unit, size - size % unit)


def spatio_temporal_frames(card: ArchCard, frames: int, k: int) -> list[int] | None:
    """Pixel frames of each stage (lowest first) halving the latent frame intervals per level, or None if the
    card's VAE/patch does not allow it (needs a causal VAE and 2^(K-1) dividing the latent intervals)."""
    if not card.vae_causal or card.patch_t != 1:
        return None
    intervals = (frames - 1) // card.vae_temporal
    if (frames - 1) % card.vae_temporal or intervals % (2 ** (k - 1)):
        return None
    return [1 + card.vae_temporal * (intervals >> (k - 1 - i)) for i in range(k)]


def savings_row(card: ArchCard, k: int = 3, mfu: float = 0.4) -> dict:
    """Full-resolution diffusion vs a K-stage spatial (and spatio-temporal) pyramid at the card's native video.

    The video is the native one with height/width rounded down to what K exact halvings allow; every pyramid
    stage gets ceil(native_steps / K) steps, so pyramid and full run about the same number of evaluations and
    the saving comes from tokens alone.
    """
    unit = card.vae_spatial * max(card.patch_h, card.patch_w) * 2 ** (k - 1)
    video = (card.native_frames, pyramid_compatible(card.native_height, unit),
             pyramid_compatible(card.native_width, unit))
    per_stage = math.ceil(card.native_steps / k)
    rows = {"full": build_schedule(card, video, None, (card.native_steps,)),
            "spatial": build_schedule(card, video, k, (per_stage,))}
    st_frames = spatio_temporal_frames(card, video[0], k)
    if st_frames:
        spatial = rows["spatial"]
        rows["spatio_temporal"] = [Stage(f, s.height, s.width, s.steps) for f, s in zip(st_frames, spatial)]
    out = {"arch": card.name, "video": "x".join(map(str, video)), "native": f"{card.native_frames}x"
           f"{card.native_height}x{card.native_width}", "mfu": mfu, "stages": k, "schedules": {}}
    for name, schedule in rows.items():
        rep = schedule_report(card, schedule)
        out["schedules"][name] = {
            "stages": ",".join(f"{s.frames}x{s.height}x{s.width}" for s in schedule),
            "steps": ",".join(str(s.steps) for s in schedule),
            "tokens": rep["per_stage"][-1]["tokens"], "max_tokens": max(s["tokens"] for s in rep["per_stage"]),
            "inference_flops": rep["inference_flops"], "train_flops_per_sample": rep["train_flops_per_sample"],
            "gpu_seconds": gpu_seconds(rep["inference_flops"], mfu),
        }
    full = out["schedules"]["full"]["inference_flops"]
    for sched in out["schedules"].values():
        sched["inference_saving"] = 1.0 - sched["inference_flops"] / full
    return out


def ar_card_report(card: ArchCard, video: tuple[int, int, int], k: int, steps_first: tuple[int, ...],
                   steps_later: tuple[int, ...], stage_mix="1:2:1", cfg: bool = False) -> dict:
    """Frame-by-frame generation with the temporal pyramid (pyramid_ar) and with full-resolution history
    (ar_full_history) at the card's shape: accounting.py's layouts, priced by the card (text included)."""
    from pfbench.accounting.flops import ar_priced
    from pfbench.accounting.shapes import VideoShape
    from reference_model.variants import SamplingSchedule
    if card.patch_t != 1 or card.patch_h != card.patch_w:
        raise ValueError(f"{card.name}: the temporal pyramid needs a 1 x p x p patch")
    geo = stage_geometry(card, *video)
    shape = VideoShape(geo["latent_frames"], geo["latent_height"], geo["latent_width"], card.patch_h, k, stage_mix)
    schedule = SamplingSchedule(sum(steps_first), tuple(steps_first), tuple(steps_later))
    branches = 2 if cfg else 1
    out = {"stages": k, "steps_first_frame": list(steps_first), "steps_later_frames": list(steps_later)}
    for variant in ("pyramid_ar", "ar_full_history"):  # closed form: any video length answers at once
        inference, forward = ar_priced(variant, shape, schedule,
                                       lambda t, p, o: card_forward_flops(card, t, p, o)["total"])
        out[variant] = {"inference_flops": inference * branches, "train_flops_per_sample": 3 * forward}
    return out


SAVINGS_SCHEDULES = {"full": "full_sequence", "spatial": "spatial_pyramid", "spatio_temporal": "spatio_temporal_pyramid"}
SAVINGS_GPUS = {"A100 SXM 80GB": "a100", "H100 SXM": "h100", "H200": "h200"}


def savings_rows(card: ArchCard, k: int = 3, mfu: float = 0.4) -> list[dict]:
    """savings_row as tidy result rows (case = card name, variant = schedule), for the report's card section."""
    row = savings_row(card, k=k, mfu=mfu)
    note = (f"{row['video']} (native {row['native']}); steps per stage = ceil(native steps / {k}); one guidance "
            f"branch; card {card.path or card.name}")
    rows = [dict(case=card.name, variant="card", metric="params", value=card_params(card), unit="params",
                 backend="analytic", note="linear weights and biases")]
    for key, sched in row["schedules"].items():
        variant = SAVINGS_SCHEDULES[key]
        stage_note = f"stages {sched['stages']}, steps {sched['steps']}; {note}"
        rows += [dict(case=card.name, variant=variant, metric="max_tokens", value=sched["max_tokens"], unit="tokens",
                      backend="analytic", note=stage_note),
                 dict(case=card.name, variant=variant, metric="sample_flops_per_video",
                      value=sched["inference_flops"], unit="FLOP", backend="analytic", note=stage_note),
                 dict(case=card.name, variant=variant, metric="train_flops_per_sample",
                      value=sched["train_flops_per_sample"], unit="FLOP", backend="analytic",
                      note=stage_note if key == "full" else f"one stage per sample, 1:2:1 stage mix; {stage_note}")]
        for gpu, short in SAVINGS_GPUS.items():
            rows.append(dict(case=card.name, variant=variant, metric=f"gpu_seconds_{short}",
                             value=sched["gpu_seconds"][gpu], unit="s", backend="projection",
                             note=f"{gpu} bf16 dense peak at MFU {mfu:.0%} (stated, not measured); {stage_note}"))
    return rows
