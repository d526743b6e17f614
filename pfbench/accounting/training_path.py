"""What one training sample costs in the public Pyramid-Flow code, and the MFU the paper's GPU-hours imply.

Read from jy0205/Pyramid-Flow at 3040d71 (``scripts/train_pyramid_flow.sh``, ``train/train_pyramid_flow.py``,
``pyramid_dit/pyramid_dit_for_video_gen_pipeline.py: add_pyramid_noise_with_temporal_pyramid``,
``pyramid_dit/mmdit_modules/modeling_pyramid_mmdit.py: merge_input``, ``modeling_mmdit_block.py``,
``modeling_text_encoder.py``):

* Loss frames: ``noisy_latents[:, :, -frame_per_unit:]`` with ``--frame_per_unit 1``: ONE latent frame carries
  loss. History: frame i-1 at the current stage's resolution, i-2 one stage coarser, the rest at the coarsest
  (corrupted); that is pfbench's ``pyramid_ar`` layout, so the video tokens are the ones pfbench counts.
* Stages: ``sample_ratios = [1, 2, 1]`` (low : mid : high) per GPU batch of 4; the high-resolution sample's frame
  position cycles over the ranks of a sync group and over steps, the low/mid ones take the complement, so over
  a run the current frame is uniform: pfbench's stage mix and frame distribution.
* What the one-frame reading leaves out: every stage sequence is ``[128 T5 text tokens; video tokens]`` (T5
  ``max_sequence_length=128``), the text tokens run through the MM-DiT's context stream (its own weights, the
  image stream's shapes) and join the attention; temporal causality forces the non-flash path
  (``assert use_flash_attn is False``), a dense boolean mask in ``F.scaled_dot_product_attention``, which
  computes every (text + video)^2 pair; the script loads the text encoders (``--load_text_encoder``): T5-XXL and
  CLIP-L/G run forward on every sample; 768p training adds ``--gradient_checkpointing``.

Readings: ``one-frame`` (video tokens, allowed pairs: pfbench's default accounting) and ``public-code``
(model FLOPs: video + text tokens through both streams, allowed pairs including text; executed FLOPs: dense
attention, text encoders, recomputed blocks). The implied MFU divides FLOPs by A100 peak x reported hours.
"""
from __future__ import annotations

from dataclasses import dataclass

from pfbench.accounting.flops import forward_flops
from pfbench.accounting.plan import A100_BF16_PEAK_FLOPS, PAPER_PLAN, TrainingPlan, implied_mfu
from pfbench.accounting.shapes import Case, ModelShape, training_cases

PUBLIC_CODE = "jy0205/Pyramid-Flow @ 3040d71"
T5_XXL_ENCODER_PARAMS = 4.76e9    # T5 v1.1 XXL encoder (SD3's text_encoder_3)
CLIP_TEXT_PARAMS = 0.123e9 + 0.695e9  # CLIP-L/14 + OpenCLIP bigG/14 text towers (pooled embeddings)


@dataclass(frozen=True)
class SampleReading:
    """How a training sample is accounted: which tokens, which attention, which extra work."""

    name: str
    text_tokens: int = 0              # tokens joined to every sequence (and through the context stream)
    dense_attention_executed: bool = False  # the kernel computes every (text + video)^2 pair
    text_encoder_tokens: tuple[int, int] = (0, 0)  # (T5, CLIP) tokens encoded forward per sample
    recompute_fraction_768p: float = 0.0  # fraction of blocks recomputed in the backward (768p phase)
    assumptions: tuple[str, ...] = ()


ONE_FRAME = SampleReading("one-frame", assumptions=(
    "a training sample carries loss on one current latent frame, with its compressed history",
    "video tokens only (no text tokens), attention FLOPs over the allowed (blockwise-causal) pairs"))

PUBLIC_CODE_READING = SampleReading(
    "public-code", text_tokens=128, dense_attention_executed=True, text_encoder_tokens=(128, 77),
    recompute_fraction_768p=0.25, assumptions=(
        f"{PUBLIC_CODE}: one loss frame per sample (frame_per_unit 1), pyramid_ar history, stage mix 1:2:1",
        "128 T5 text tokens per sequence through the MM-DiT context stream (same shapes as the image stream)",
        "model FLOPs: allowed pairs; text sees text and frame 0, video sees all text (temporal-causal mask)",
        "executed FLOPs: masked SDPA computes all (text + video)^2 pairs; T5-XXL (4.76B) on 128 tokens and "
        "CLIP-L + bigG text towers (0.82B) on 77 tokens forward per sample",
        "768p phase: gradient checkpointing of the last 25% of blocks (gradient_checkpointing_ratio 0.75)"))

READINGS = {r.name: r for r in (ONE_FRAME, PUBLIC_CODE_READING)}


def _text_block_flops(model: ModelShape, text: int) -> int:
    """Forward FLOPs of the context stream of one block for ``text`` tokens (QKV, projection, MLP, adaLN)."""
    D, M = model.hidden_size, model.mlp_hidden
    return 2 * text * D * 3 * D + 2 * text * D * D + 4 * text * D * M + 2 * D * 6 * D


def sample_train_flops(case: Case, model: ModelShape, reading: SampleReading, recompute: float = 0.0
                       ) -> tuple[float, float]:
    """(model FLOPs, executed FLOPs) of training one sample (3x forward; executed adds recomputation, dense
    attention and the text encoders' forward)."""
    T, D, L = reading.text_tokens, model.hidden_size, case.tokens
    forward = forward_flops(model, L, case.pairs, case.output_tokens)  # the video stream (pfbench's count)
    text_pairs = 0
    if T:
        text_pairs = T * T + L * T + T * case.frame_tokens[0]  # text<->text, video->text, text->frame 0
        forward += model.depth * (_text_block_flops(model, T) + 4 * D * text_pairs)
    model_flops = 3.0 * forward
    if not reading.dense_attention_executed:
        return model_flops, model_flops
    dense_extra = model.depth * 4 * D * ((T + L) ** 2 - case.pairs - text_pairs)  # masked pairs still computed
    t5, clip = reading.text_encoder_tokens
    encoders = 2 * T5_XXL_ENCODER_PARAMS * t5 + 2 * CLIP_TEXT_PARAMS * clip
    executed = 3.0 * (forward + dense_extra) + recompute * (forward + dense_extra) + encoders
    return model_flops, executed


def plan_readings(model: ModelShape, plan: TrainingPlan = PAPER_PLAN, variant: str = "pyramid_ar") -> list[dict]:
    """Per reading: total model / executed FLOPs of the plan and the MFU / utilisation the GPU-hours imply."""
    out = []
    for reading in READINGS.values():
        total_model = total_exec = 0.0
        for phase in plan.phases:
            recompute = reading.recompute_fraction_768p if phase.video.height >= 768 else 0.0
            for case in training_cases(variant, phase.shape()):
                m, e = sample_train_flops(case, model, reading, recompute)
                total_model += phase.steps * phase.global_batch * case.probability * m
                total_exec += phase.steps * phase.global_batch * case.probability * e
        out.append(dict(
            reading=reading.name, variant=variant, plan=plan.name, gpu=plan.reported_gpu,
            reported_gpu_hours=plan.reported_gpu_hours, model_flops=total_model, executed_flops=total_exec,
            implied_mfu=implied_mfu(total_model, plan.reported_gpu_hours, A100_BF16_PEAK_FLOPS),
            implied_hardware_utilisation=implied_mfu(total_exec, plan.reported_gpu_hours, A100_BF16_PEAK_FLOPS),
            assumptions=list(reading.assumptions) + [a for a in plan.assumptions
                                                     if not (reading.text_tokens and "text tokens" in a)]))
    return out


def format_readings(rows: list[dict]) -> str:
    lines = [f"implied utilisation of the paper's {rows[0]['reported_gpu_hours']:,.0f} {rows[0]['gpu']}-hours "
             f"({rows[0]['variant']}, {rows[0]['plan']}), by how a training sample is read:"]
    for r in rows:
        lines.append(f"  {r['reading']:12s} model FLOPs {r['model_flops']:.3e} -> MFU {r['implied_mfu']:.1%}; "
                     f"executed {r['executed_flops']:.3e} -> {r['implied_hardware_utilisation']:.1%} of peak")
        lines += [f"      - {a}" for a in r["assumptions"]]
    return "\n".join(lines)
