"""DiT.forward refuses a t or y whose length is not the batch's (a length-1 t used to broadcast silently)."""
from __future__ import annotations

import pytest
import torch

from reference_model.dit import DiT, dit_config
from reference_model.layout import PackedLayout, clip_layout
from reference_model.temporal import ar_layout


def _model():
    torch.manual_seed(0)
    return DiT(dit_config("tiny", in_channels=3, num_classes=3)).eval()


def test_t_and_y_must_have_one_entry_per_sample():
    model, layout = _model(), clip_layout(2, 8, 8)
    x = [torch.randn(3, 3, 2, 8, 8)]
    with torch.no_grad():
        assert model(x, layout, torch.tensor([0.1, 0.2, 0.3]))[0].shape == x[0].shape
        scalar = model(x, layout, torch.tensor(0.4))[0]  # a 0-dim t is one time for all, on purpose
        assert torch.allclose(scalar, model(x, layout, torch.full((3,), 0.4))[0])
        with pytest.raises(ValueError, match=r"t has shape \(1,\) but the batch has 3 samples"):
            model(x, layout, torch.tensor([0.4]))
        with pytest.raises(ValueError, match=r"y has shape \(2,\) but the batch has 3 samples"):
            model(x, layout, torch.full((3,), 0.4), torch.tensor([0, 1]))
        with pytest.raises(ValueError, match=r"t has shape \(3, 1\)"):
            model(x, layout, torch.full((3, 1), 0.4))


def test_packed_layouts_need_one_t_per_packed_sample():
    model = _model()
    layouts = (ar_layout(1, 0, 3, 16, 16), ar_layout(0, 1, 3, 16, 16))
    g = torch.Generator().manual_seed(0)
    latents = [torch.randn(1, 3, s.frames, s.height, s.width, generator=g) for lay in layouts for s in lay.segments]
    with torch.no_grad():
        model(latents, PackedLayout(layouts), torch.tensor([0.2, 0.6]), output="last")
        with pytest.raises(ValueError, match=r"t has shape \(1,\) but the batch has 2 packed samples"):
            model(latents, PackedLayout(layouts), torch.tensor([0.2]), output="last")
