"""Spatial pyramid math: windows, jumps, the noise pyramid and the statistics of the renoising jump."""
import math

import pytest
import torch

from reference_model.pyramid import (
    block_correlated_noise,
    check_pyramid_size,
    downsample,
    jump_coefficients,
    noise_pyramid,
    renoise,
    stage_endpoints,
    stage_windows,
    upsample,
)


def test_stage_windows_k3_match_hand_values():
    windows = stage_windows(3)
    expected = [(1 / 2, 1.0), (1 / 5, 2 / 3), (0.0, 1 / 3)]
    for (s, e), (s_ref, e_ref) in zip(windows, expected):
        assert s == pytest.approx(s_ref, abs=1e-12)
        assert e == pytest.approx(e_ref, abs=1e-12)


def test_single_stage_is_plain_flow_matching():
    assert stage_windows(1) == [(0.0, 1.0)]


def test_jump_coefficients_k3_match_hand_values():
    assert jump_coefficients(1 / 5) == pytest.approx((0.6, 0.6928), abs=1e-4)
    assert jump_coefficients(1 / 2) == pytest.approx((0.75, 0.4330), abs=1e-4)


@pytest.mark.parametrize("num_stages", [2, 3, 4, 5])
@pytest.mark.parametrize("gamma", [-1 / 3, -0.25, -0.1, -0.01])
def test_continuity_rule_for_any_k_and_gamma(num_stages, gamma):
    """The jump maps stage k+1's end onto stage k's start: rescale = s_k / e_{k+1}, and the covariance
    inside each 2x2 block vanishes while the per-pixel variance is (1 - s_k)^2."""
    windows = stage_windows(num_stages, gamma)
    assert windows[-1][0] == 0.0 and windows[0][1] == 1.0
    for k in range(num_stages - 1):
        s_k, e_next = windows[k][0], windows[k + 1][1]
        rescale, alpha = jump_coefficients(s_k, gamma)
        assert rescale == pytest.approx(s_k / e_next, rel=1e-12)
        block_cov = rescale ** 2 * (1 - e_next) ** 2 + alpha ** 2 * gamma
        variance = rescale ** 2 * (1 - e_next) ** 2 + alpha ** 2
        assert block_cov == pytest.approx(0.0, abs=1e-12)
        assert variance == pytest.approx((1 - s_k) ** 2, rel=1e-12)
        assert 0 < s_k < windows[k][1]  # windows overlap: time rolls back at each jump
        assert windows[k + 1][1] > s_k


def test_gamma_outside_range_is_rejected():
    with pytest.raises(ValueError, match="gamma"):
        stage_windows(3, gamma=-0.5)
    with pytest.raises(ValueError, match="gamma"):
        jump_coefficients(0.2, gamma=0.0)


def test_noise_pyramid_unit_variance_and_same_draw():
    noise = torch.randn(64, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    levels = noise_pyramid(noise, 3)
    assert [tuple(x.shape[-2:]) for x in levels] == [(32, 32), (16, 16), (8, 8)]
    for level in levels:
        assert level.var().item() == pytest.approx(1.0, abs=0.03)
    # the same draw: each level is the 2x2 average of the finer one, times 2
    assert torch.allclose(levels[1], downsample(noise, 2) * 2)
    assert torch.allclose(levels[2], downsample(levels[1], 2) * 2)
    assert torch.allclose(levels[2], downsample(noise, 4) * 4, atol=1e-5)


def test_block_correlated_noise_covariance():
    n = block_correlated_noise((200_000, 2, 2), generator=torch.Generator().manual_seed(1))
    flat = n.reshape(-1, 4)
    cov = torch.cov(flat.T)
    target = torch.full((4, 4), -1 / 3) + torch.eye(4) * (4 / 3)
    assert torch.allclose(cov, target, atol=0.01)
    assert flat.sum(dim=1).abs().max() < 1e-4  # rank 3: the block sum is exactly zero at gamma = -1/3


def _end_point(x1, k_next, e_next, draws, generator):
    """Samples of stage k+1's end point at level k+1: e Down(x1) + (1 - e) n, n ~ N(0, I)."""
    coarse = downsample(x1, 2 ** k_next)
    noise = torch.randn(draws, *coarse.shape[1:], generator=generator)
    return e_next * coarse + (1 - e_next) * noise


@pytest.mark.parametrize("k", [0, 1])
def test_renoise_gives_next_stage_start_distribution(k):
    windows = stage_windows(3)
    s_k, e_next = windows[k][0], windows[k + 1][1]
    g = torch.Generator().manual_seed(2)
    x1 = torch.randn(1, 1, 16, 16, generator=g)
    x_end = _end_point(x1, k + 1, e_next, 40_000, g)  # (N, 1, 16 / 2^(k+1), ...)
    x_start = renoise(x_end, s_k, generator=g)
    mean_target = s_k * upsample(downsample(x1, 2 ** (k + 1)), 2)[0]
    assert (x_start.mean(0) - mean_target).abs().max() < 0.03
    var = x_start.var(0)
    assert var.mean().item() == pytest.approx((1 - s_k) ** 2, rel=0.03)
    assert (var - (1 - s_k) ** 2).abs().max() < 0.06 * (1 - s_k) ** 2
    # no correlation between the pixels of a 2x2 block
    centred = x_start - x_start.mean(0, keepdim=True)
    h, w = centred.shape[-2:]
    blocks = centred.reshape(-1, 1, h // 2, 2, w // 2, 2)
    corr_right = (blocks[..., 0, :, 0] * blocks[..., 0, :, 1]).mean(0) / (1 - s_k) ** 2
    corr_down = (blocks[..., 0, :, 0] * blocks[..., 1, :, 0]).mean(0) / (1 - s_k) ** 2
    corr_diag = (blocks[..., 0, :, 0] * blocks[..., 1, :, 1]).mean(0) / (1 - s_k) ** 2
    for corr in (corr_right, corr_down, corr_diag):
        assert corr.abs().mean().item() < 0.02


# Hand values, K = 3, gamma = -1/3 (x1 = 0, so x_e of stage k+1 is (1 - e_{k+1}) n):
#   into stage 1: s = 1/5, e_2 = 1/3: rescale 0.6, noise left 0.6 * 2/3 = 0.4 (var 0.16), target (4/5)^2 = 0.64
#   into stage 0: s = 1/2, e_1 = 2/3: rescale 0.75, noise left 0.75 * 1/3 = 0.25 (var 0.0625), target 0.25
# corrective (default):            var = target, within-block correlation 0
# corrective=False (the ablation): var = target, within-block correlation 1 (noise_scale * Up(z) tops it up)
# corrective=False, keep_variance=False (the earlier ablation): var = noise left only, correlation 1
JUMP_CASES = [(1, 0.64, 0.16), (0, 0.25, 0.0625)]


def _jump_stats(k, **kw):
    windows = stage_windows(3)
    s_k, e_next = windows[k][0], windows[k + 1][1]
    g = torch.Generator().manual_seed(3 + k)
    x_end = _end_point(torch.zeros(1, 1, 16, 16), k + 1, e_next, 20_000, g)  # (N, 1, h, w), pure noise part
    x_start = renoise(x_end, s_k, generator=g, **kw)
    blocks = x_start.reshape(-1, 1, x_start.shape[-2] // 2, 2, x_start.shape[-1] // 2, 2)
    var = float(x_start.pow(2).mean())
    corr = [float((blocks[..., 0, :, 0] * other).mean()) / var
            for other in (blocks[..., 0, :, 1], blocks[..., 1, :, 0], blocks[..., 1, :, 1])]
    return var, corr


@pytest.mark.parametrize("k, target, left", JUMP_CASES)
def test_jump_variances_and_block_correlations_match_hand_values(k, target, left):
    var, corr = _jump_stats(k)
    assert var == pytest.approx(target, rel=0.02) and max(abs(c) for c in corr) < 0.02
    # the ablation changes one thing: the variance stays right, the 2x2 blocks become perfectly correlated
    var, corr = _jump_stats(k, corrective=False)
    assert var == pytest.approx(target, rel=0.02) and min(corr) > 0.99
    # the earlier ablation (rescaled upsampling only) also shrinks the variance to the noise left in x_e
    var, corr = _jump_stats(k, corrective=False, keep_variance=False)
    assert var == pytest.approx(left, rel=0.02) and min(corr) > 0.99


def test_jump_without_corrective_noise_keeps_the_mean():
    windows = stage_windows(3)
    s_k, e_next = windows[0][0], windows[1][1]
    g = torch.Generator().manual_seed(5)
    x1 = torch.randn(1, 1, 16, 16, generator=g)
    x_start = renoise(_end_point(x1, 1, e_next, 20_000, g), s_k, generator=g, corrective=False)
    assert (x_start.mean(0) - s_k * upsample(downsample(x1, 2), 2)[0]).abs().max() < 0.03


def test_renoise_is_vectorised_and_works_on_clips():
    x = torch.randn(2, 3, 5, 8, 8)
    out = renoise(x, 0.2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 5, 16, 16)


def test_stage_endpoints_coupled_by_one_noise():
    g = torch.Generator().manual_seed(4)
    x1 = torch.randn(2, 3, 16, 16, generator=g)
    levels = noise_pyramid(torch.randn(2, 3, 16, 16, generator=g), 3)
    windows = stage_windows(3)
    x_s, x_e = stage_endpoints(x1, levels[1], 1, 3, windows)
    s, e = windows[1]
    assert torch.allclose(x_e, e * downsample(x1, 2) + (1 - e) * levels[1])
    assert torch.allclose(x_s, s * upsample(downsample(x1, 4)) + (1 - s) * levels[1])
    x_s2, _ = stage_endpoints(x1, levels[2], 2, 3, windows)
    assert torch.equal(x_s2, levels[2])  # the coarsest stage starts from pure noise


def test_odd_sizes_fail_with_a_fix():
    with pytest.raises(ValueError, match="multiples of 8"):
        check_pyramid_size(20, 16, 3, patch_size=2)
    check_pyramid_size(24, 16, 3, patch_size=2)
    with pytest.raises(ValueError, match="not divisible"):
        downsample(torch.zeros(1, 1, 6, 5), 2)
    assert math.isclose(stage_windows(2)[0][0], 1 / 3)


def test_model_time_segments_follow_the_public_scheduler_for_k3():
    """jy0205/Pyramid-Flow scheduling_flow_matching.py, K = 3, gamma 1/3 (its sign convention): timestep_ratios
    split 1000 timesteps by stage flow length 1/3 : 7/15 : 1/2 (coarsest first), timesteps 1000 -> 744 -> 386
    (its integer indices) -> 0; here exactly 10/39 and 24/39 of the t scale (timesteps 743.6 and 384.6)."""
    from reference_model.pyramid import model_time_segments
    seg = model_time_segments(stage_windows(3))
    assert seg[2] == pytest.approx((0.0, 10 / 39)) and seg[1] == pytest.approx((10 / 39, 24 / 39))
    assert seg[0] == pytest.approx((24 / 39, 1.0))
    timesteps = [1000 * (1 - b) for _, b in (seg[2], seg[1])]   # the code's sigma = 1 - t scale
    assert abs(timesteps[0] - 744) < 1 and abs(timesteps[1] - 386) < 1.5
    assert model_time_segments(stage_windows(1)) == [(0.0, 1.0)]


@pytest.mark.parametrize("K", [2, 3, 4, 5])
def test_model_time_segments_are_disjoint_cover_and_follow_flow_length(K):
    from reference_model.pyramid import model_time, model_time_segments
    windows = stage_windows(K)
    seg = model_time_segments(windows)
    order = [seg[k] for k in range(K - 1, -1, -1)]  # coarsest first
    assert order[0][0] == 0.0 and order[-1][1] == 1.0
    assert all(a[1] == b[0] for a, b in zip(order, order[1:]))  # contiguous, never overlapping
    lengths = [(e - s) for s, e in windows]
    for k in range(K):
        assert seg[k][1] - seg[k][0] == pytest.approx(lengths[k] / sum(lengths))
        t = torch.tensor([0.0, 0.5, 1.0])
        assert model_time(t, k, windows, "stage").tolist() == pytest.approx(
            [seg[k][0], (seg[k][0] + seg[k][1]) / 2, seg[k][1]])
        assert model_time(t, k, windows, "global").tolist() == pytest.approx(
            [windows[k][0], sum(windows[k]) / 2, windows[k][1]])
    with pytest.raises(ValueError, match="time conditioning"):
        model_time(torch.tensor([0.5]), 0, windows, "local")
