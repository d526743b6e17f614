"""Samplers as pure functions (k-diffusion style): model, starting noise, schedule in; latents out.

All integrate the learned velocity with explicit Euler steps (x += dt * v) from t = 0 (noise) towards
t = 1 (data). A pyramid stage k is trained on the straight path x_t' = (1 - t') x_s + t' x_e in its
*local* time t' in [0, 1], with target x_e - x_s, while the model is fed a time that grows with t'. Its
sampler therefore steps t' from 0 to 1 (dt' = 1 / steps, so the stage travels all the way from x_s to x_e)
and feeds the model the time training fed at each t'. The public Pyramid-Flow scheduler does the same
(jy0205/Pyramid-Flow, diffusion_schedulers/scheduling_flow_matching.py: ``sigmas_per_stage`` runs from 1 to 0
inside every stage and ``step`` adds (sigma_next - sigma) * v, while ``timesteps_per_stage`` hands the model
each stage's own segment of the global timestep scale). What the model is fed is ``time_conditioning``:
'stage' (the default) is that remap, each stage its own disjoint segment of the model's time scale
(pyramid.model_time_segments); 'global' is the true time s_k + t' (e_k - s_k), whose windows overlap.
Full-sequence sampling is the one-stage case, window [0, 1]. Classifier-free guidance mixes conditional and null-label velocities:
v = v_null + w (v_cond - v_null). ``callback`` (optional) receives a dict per model evaluation with
keys stage, frame, step, t (global), t_local, t_model (fed), shape, so progress bars and tests can follow the sampler.

Steps per stage are given in execution order: coarsest stage first, full resolution last.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from reference_model.layout import SequenceLayout, clip_layout
from reference_model.pyramid import (DEFAULT_TIME_CONDITIONING, check_pyramid_size, check_time_conditioning,
                                     model_time_segments, renoise, stage_windows, time_dtype)
from reference_model.temporal import ar_layout, history_latents

Callback = Callable[[dict], None] | None


def guided_velocity(model, latents: list[torch.Tensor], layout: SequenceLayout, t: torch.Tensor,
                    y: torch.Tensor | None, guidance: float, output: str = "last") -> torch.Tensor:
    """Velocity of the layout's last segment, with classifier-free guidance when a label and w != 1 are given."""
    if y is None or guidance == 1.0:
        return model(latents, layout, t, y, output=output)[-1]
    null = torch.full_like(y, model.null_label)
    doubled = [torch.cat([z, z]) for z in latents]
    v_cond, v_null = model(doubled, layout, torch.cat([t, t]), torch.cat([y, null]), output=output)[-1].chunk(2)
    return v_null + guidance * (v_cond - v_null)


def _integrate(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
               window: tuple[float, float], steps: int, callback: Callback, info: dict,
               fed: tuple[float, float] | None = None) -> torch.Tensor:
    """Euler over one stage: local time t' from 0 to 1 in ``steps`` equal steps.

    window = (s, e): the stage's global time window; ``fed`` = (a, b): the segment of the model's time scale the
    stage is fed (a + t' (b - a); None: the window itself, i.e. the global time). The velocity is d x / d t'
    (the stage's x_e - x_s).
    """
    if steps < 1:
        raise ValueError(f"steps per stage must be >= 1, got {steps}")
    s, e = window
    a, b = fed if fed is not None else window
    local = torch.linspace(0.0, 1.0, steps + 1).tolist()
    for step, (u0, u1) in enumerate(zip(local[:-1], local[1:])):
        t_model = a + u0 * (b - a)
        t = torch.full((x.shape[0],), t_model, device=x.device, dtype=time_dtype(x))  # (B,)
        x = x + (u1 - u0) * velocity(x, t).to(x.dtype)
        if callback is not None:
            callback({**info, "step": step, "t": s + u0 * (e - s), "t_local": u0, "t_model": t_model,
                      "shape": tuple(x.shape)})
    return x


def _fed_segments(windows, time_conditioning: str) -> list[tuple[float, float]]:
    """What each stage feeds the model: its own segment ('stage') or its global window ('global')."""
    check_time_conditioning(time_conditioning)
    return model_time_segments(windows) if time_conditioning == "stage" else list(windows)


def euler_full_sequence(model, noise: torch.Tensor, *, steps: int = 30, y: torch.Tensor | None = None,
                        guidance: float = 1.0, callback: Callback = None) -> torch.Tensor:
    """Full-sequence flow matching: every frame at full resolution, one t, from noise (B, C, T, H, W)."""
    B, _, T, H, W = noise.shape
    layout = clip_layout(T, H, W, model.cfg.patch_size)
    velocity = lambda x, t: guided_velocity(model, [x], layout, t, y, guidance)  # noqa: E731
    return _integrate(velocity, noise, (0.0, 1.0), steps, callback, {"stage": 0, "frame": None})


def euler_pyramid(model, noise: torch.Tensor, *, steps_per_stage: Sequence[int] = (20, 20, 20),
                  gamma: float = -1.0 / 3.0, renoise_jumps: bool = True, generator: torch.Generator | None = None,
                  y: torch.Tensor | None = None, guidance: float = 1.0, callback: Callback = None,
                  time_conditioning: str = DEFAULT_TIME_CONDITIONING,
                  jump_keeps_variance: bool = True) -> torch.Tensor:
    """Spatial pyramid sampling of whole clips: integrate each stage window, jump (upsample + renoise) between.

    ``time_conditioning``: the time the model is fed, as in training (pyramid.model_time).
    ``renoise_jumps=False`` (ablation): block-correlated jump noise of the right variance, or with
    ``jump_keeps_variance=False`` rescaled upsampling only (pyramid.renoise).
    noise: the coarsest stage's start, (B, C, T, H / 2^(K-1), W / 2^(K-1)); K = len(steps_per_stage).
    Returns (B, C, T, H, W).
    """
    K = len(steps_per_stage)
    if noise.ndim != 5:
        raise ValueError(f"euler_pyramid needs the coarsest stage's noise as (B, C, T, h, w), got {tuple(noise.shape)}")
    p = model.cfg.patch_size
    if noise.shape[-2] % p or noise.shape[-1] % p:
        raise ValueError(f"the coarsest stage's noise is {noise.shape[-2]}x{noise.shape[-1]}, which patch size {p} "
                         f"does not divide: the full size must be a multiple of {p * 2 ** (K - 1)} for {K} stages")
    windows = stage_windows(K, gamma)
    fed = _fed_segments(windows, time_conditioning)
    x = noise
    for order, k in enumerate(range(K - 1, -1, -1)):
        if order > 0:
            x = renoise(x, windows[k][0], gamma, generator, renoise_jumps, jump_keeps_variance)
        _, _, T, h, w = x.shape
        layout = clip_layout(T, h, w, model.cfg.patch_size, level=k)
        velocity = lambda z, t, layout=layout: guided_velocity(model, [z], layout, t, y, guidance)  # noqa: E731
        x = _integrate(velocity, x, windows[k], steps_per_stage[order], callback, {"stage": k, "frame": None},
                       fed[k])
    return x


def sample_autoregressive(model, shape: Sequence[int], *, generator: torch.Generator | None = None,
                          steps_first_frame: Sequence[int] = (20, 20, 20),
                          steps_later_frames: Sequence[int] = (10, 10, 10), full_history: bool = False,
                          causal: bool = True, gamma: float = -1.0 / 3.0, renoise_jumps: bool = True,
                          y: torch.Tensor | None = None, guidance: tuple[float, float] = (1.0, 1.0),
                          callback: Callback = None, device=None, dtype=torch.float32,
                          history_window: int | None = None,
                          time_conditioning: str = DEFAULT_TIME_CONDITIONING,
                          jump_keeps_variance: bool = True) -> torch.Tensor:
    """Generate a clip (B, C, T, H, W) one latent frame at a time with the spatial + temporal pyramid.

    Each frame runs the spatial pyramid (steps per stage, coarsest first); its history is the clean,
    already generated frames, compressed to the levels the temporal pyramid prescribes for each stage
    (or kept at full resolution with ``full_history``). ``guidance`` is (first frame, later frames).
    ``history_window`` = W conditions each frame on its last W frames only (sliding window; None: all).
    """
    B, C, T, H, W = shape
    K = len(steps_first_frame)
    if len(steps_later_frames) != K:
        raise ValueError("steps_first_frame and steps_later_frames must name the same number of stages")
    check_pyramid_size(H, W, K, model.cfg.patch_size)
    windows = stage_windows(K, gamma)
    fed = _fed_segments(windows, time_conditioning)
    clip = torch.zeros((B, C, T, H, W), device=device, dtype=dtype)
    for i in range(T):
        steps = steps_first_frame if i == 0 else steps_later_frames
        w = guidance[0] if i == 0 else guidance[1]
        x = torch.randn((B, C, 1, H >> (K - 1), W >> (K - 1)), generator=generator, device=device, dtype=dtype)
        for order, k in enumerate(range(K - 1, -1, -1)):
            if order > 0:
                x = renoise(x, windows[k][0], gamma, generator, renoise_jumps, jump_keeps_variance)
            layout = ar_layout(i, k, K, H, W, model.cfg.patch_size, full_history, causal, history_window)
            history = history_latents(clip, layout)

            def velocity(z, t, layout=layout, history=history, w=w):
                return guided_velocity(model, history + [z], layout, t, y, w)

            x = _integrate(velocity, x, windows[k], steps[order], callback, {"stage": k, "frame": i}, fed[k])
        clip[:, :, i:i + 1] = x
    return clip
