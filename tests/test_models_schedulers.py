"""Known answers for the diffusers adapters: pfbench's Euler over an adapter is the model's own diffusers scheduler.

Flow-matching families (Wan, LTX-Video, HunyuanVideo, Mochi): ``euler_full_sequence`` over the adapter equals the
loop their pipelines run, FlowMatchEulerDiscreteScheduler (shift 1; Mochi with inverted sigmas) stepping the raw
module's prediction on the uniform sigma grid (WanPipeline's ``set_timesteps(N)`` grid ends at sigma 1/1000 instead:
a different grid, not a different model call), on the same tiny random module and noise. CogVideoX (v-prediction):
CogVideoXDDIMScheduler's loop equals Euler on pfbench's straight path at the times of the same signal-to-noise ratio. A sign or time-scale
slip in an adapter moves the result by O(1).
"""
from __future__ import annotations

import pytest
import torch

from pfbench.accounting.arch_cards import load_card
from pfbench.models.build import build_adapter, reduced_config
from reference_model.layout import clip_layout
from reference_model.samplers import euler_full_sequence, euler_pyramid

FLOW_FAMILIES = ("wan2.1-t2v-1.3b", "ltx-video-2b", "hunyuanvideo", "mochi-1-preview")
ALL = FLOW_FAMILIES + ("cogvideox-5b",)
STEPS = 6
LATENT = (2, 4, 4)        # (T, h, w): every patch divides it, and its 2x2 halving for a 2-stage pyramid
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def adapters() -> dict:
    """One tiny random module per family (2 layers, 2 heads of 16, 8 text tokens of width 32), seed 0."""
    out = {}
    for name in ALL:
        card = load_card(name)
        out[name] = build_adapter(card, config=reduced_config(card), text_tokens=8, text="random", seed=0).eval()
    return out


def _noise(adapter, seed=1):
    return torch.randn((2, adapter.cfg.in_channels, *LATENT), generator=torch.Generator().manual_seed(seed))


def _diffusers_flow_loop(adapter, noise, steps):
    """The pipelines' loop on the uniform grid LTXPipeline and HunyuanVideoPipeline pass (sigmas 1, ..., 1/N, then
    0): scheduler.set_timesteps(sigmas=...); x = scheduler.step(module(x, t), t, x)."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler
    inverted = adapter.family == "mochi"
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, invert_sigmas=inverted)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1.0 / steps, steps))
    text, x = adapter.text.expand(noise.shape[0], -1, -1), noise
    for t in scheduler.timesteps:
        prediction = adapter.predict(x, t.expand(x.shape[0]), text)
        x = scheduler.step(prediction, t, x, return_dict=False)[0]
    return x


@pytest.mark.parametrize("name", FLOW_FAMILIES)
def test_euler_full_sequence_is_the_pipelines_flow_match_loop(adapters, name):
    adapter = adapters[name]
    noise = _noise(adapter)
    with torch.no_grad():
        ours = euler_full_sequence(adapter, noise, steps=STEPS)
        theirs = _diffusers_flow_loop(adapter, noise, STEPS)
    diff = (ours - theirs).abs().max().item()
    print(f"{name}: max |pfbench - diffusers| = {diff:.2e} over {STEPS} steps")
    assert diff < TOLERANCE
    assert (ours - noise).abs().max() > 0.1          # the model moved the sample: the comparison is not vacuous


def test_cogvideox_ddim_is_euler_on_the_straight_path(adapters):
    """Every CogVideoXDDIMScheduler step (from timestep tau to tau - 1000 // N, as it steps) is one Euler step of the
    adapter's velocity between the straight-path times of the same SNR; the loop's bookkeeping (the next call is at
    the next listed timestep) is mirrored by converting the state at each step's ends."""
    from diffusers import CogVideoXDDIMScheduler
    adapter = adapters["cogvideox-5b"]
    noise = _noise(adapter)
    scheduler = CogVideoXDDIMScheduler(**adapter.scheduler)
    scheduler.set_timesteps(STEPS)
    ab = scheduler.alphas_cumprod.double()

    def ends(tau):   # (a + s, straight-path time) of a timestep; below 0 the final alpha is 1
        a2 = ab[tau] if tau >= 0 else torch.tensor(1.0, dtype=torch.float64)
        a, s = a2.sqrt(), (1 - a2).sqrt()
        return float(a + s), float(a / (a + s))

    text, theirs, ours = adapter.text.expand(2, -1, -1), noise, noise
    layout = clip_layout(*LATENT, adapter.cfg.patch_size)
    with torch.no_grad():
        for tau in scheduler.timesteps:
            theirs = scheduler.step(adapter.predict(theirs, tau.expand(2).float(), text), tau, theirs,
                                    return_dict=False)[0]
            (n0, t0), (n1, t1) = ends(int(tau)), ends(int(tau) - 1000 // STEPS)
            x = ours / n0                                                  # VP state -> straight path
            x = x + (t1 - t0) * adapter([x], layout, torch.full((2,), t0, dtype=torch.float64))[0]
            ours = x * n1                                                  # back to the scheduler's state
    diff = (ours - theirs).abs().max().item()
    print(f"cogvideox-5b: max |pfbench Euler - CogVideoXDDIMScheduler| = {diff:.2e} over {STEPS} steps")
    assert diff < TOLERANCE
    assert (ours - noise).abs().max() > 0.1


@pytest.mark.parametrize("name", ALL)
def test_euler_pyramid_runs_on_every_adapter(adapters, name):
    adapter = adapters[name]
    coarse = torch.randn((1, adapter.cfg.in_channels, LATENT[0], LATENT[1] // 2 * adapter.cfg.patch_size,
                          LATENT[2] // 2 * adapter.cfg.patch_size), generator=torch.Generator().manual_seed(2))
    seen = []
    with torch.no_grad():
        out = euler_pyramid(adapter, coarse, steps_per_stage=(2, 2), generator=torch.Generator().manual_seed(3),
                            callback=lambda info: seen.append(info["shape"]))
    assert out.shape[-2:] == (coarse.shape[-2] * 2, coarse.shape[-1] * 2) and torch.isfinite(out).all()
    assert seen[0] == tuple(coarse.shape) and seen[-1] == tuple(out.shape)


def test_an_adapter_refuses_history_segments_and_an_undivided_latent(adapters):
    adapter = adapters["wan2.1-t2v-1.3b"]
    x = torch.zeros(1, 16, 2, 4, 4)
    with pytest.raises(ValueError, match="one whole-clip segment"):
        adapter([x, x], clip_layout(2, 4, 4, 2), torch.zeros(1))
    with pytest.raises(ValueError, match="does not divide by the patch"):
        adapter([torch.zeros(1, 16, 2, 3, 4)], clip_layout(2, 3, 4, 1), torch.zeros(1))
