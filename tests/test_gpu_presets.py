"""The gpu presets build and run a token-budget training step on the meta device (shapes only), every variant,
through the path a GPU takes (flex backend, bucket padding); and their budgets are what the README says."""
import pytest
import torch

from pfbench.core.config import get_preset
from pfbench.train.loop import model_for_preset
from reference_model.dit import dit_config
from reference_model.layout import length_buckets
from reference_model.packing import TokenBudgetPacker, sample_tokens
from reference_model.variants import VARIANTS, training_loss


@pytest.mark.parametrize("name", ["gpu-smoke", "gpu"])
def test_gpu_presets_are_bf16_sd3_shaped_with_a_budget_of_one_full_clip(name):
    p = get_preset(name)
    cfg = dit_config(p.model)
    assert p.device == "cuda" and p.dtype == "bfloat16" and p.trainable
    assert (cfg.hidden_size, cfg.num_heads, cfg.patch_size) == (1536, 24, 2) and p.channels == 16
    full_clip = sample_tokens("full_sequence", 0, 0, frames=p.frames, height=p.height, width=p.width)
    assert full_clip <= p.token_budget <= full_clip + 1024  # one clip, rounded up to a multiple of 1024
    assert cfg.depth == (24 if name == "gpu" else 4)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", ["gpu-smoke", "gpu"])
def test_gpu_preset_budget_step_runs_on_meta(name, variant):
    p = get_preset(name)
    packer = TokenBudgetPacker(variant, p.token_budget, frames=p.frames, height=p.height, width=p.width,
                               num_stages=p.stages, stage_mix=p.stage_mix, seed=0, max_samples=p.batch_size)
    draw = packer.next_batch()
    assert 0 < draw.total_tokens <= p.token_budget
    with torch.device("meta"):
        model = model_for_preset(p, attention="flex", length_buckets=length_buckets(p.token_budget))
    x = torch.randn(draw.size, p.channels, p.frames, p.height, p.width, device="meta")
    loss = training_loss(variant, model, x, stages=draw.stages, frames=draw.frames, num_stages=p.stages,
                         stage_mix=p.stage_mix)
    loss.backward()
    assert loss.shape == () and model.blocks[-1].mlp[0].weight.grad.shape == (4 * 1536, 1536)
    if VARIANTS[variant].autoregressive:  # packed: the sequence was padded to a bucket
        plan = next(iter(model._layouts.values())).plan
        assert plan.bucketed and plan.length in length_buckets(p.token_budget)
