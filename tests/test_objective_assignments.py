"""Which sample a loss trains at which stage, frame, size and time: recorded from the model's inputs.

The oracle's loss is zero for any stage assignment, so these tests read what the model was asked instead:
every sample's stage and frame must be the ones drawn (or passed), at that level's size, patch size and
time window, with its own label.
"""
import pytest
import torch
from oracle_model import OracleModel

from reference_model.layout import PackedLayout
from reference_model.objectives import autoregressive_loss, spatial_pyramid_loss
from reference_model.temporal import history_levels

B, C, T, H, W = 6, 3, 3, 16, 16


class Recorder(OracleModel):
    """The oracle, keeping (layout, labels, time) of every forward."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.seen = []

    def __call__(self, latents, layout, t, y=None, output="all"):
        self.seen.append((layout, None if y is None else y.clone(), t.clone()))
        return super().__call__(latents, layout, t, y, output)


def _data():
    return torch.randn((B, C, T, H, W), generator=torch.Generator().manual_seed(0), dtype=torch.float64)


@pytest.mark.parametrize("patch", [1, 2])
def test_spatial_pyramid_loss_trains_each_sample_at_its_stage(patch):
    x1, labels = _data(), torch.arange(B)
    stages = torch.tensor([0, 2, 1, 2, 0, 1])
    model = Recorder(x1, 3, patch_size=patch)
    loss = spatial_pyramid_loss(model, x1[labels], labels, generator=torch.Generator().manual_seed(1), num_stages=3,
                                stages=stages)
    assert loss.item() < 1e-10
    covered = []
    for layout, y, t in model.seen:
        (seg,) = layout.segments
        k = seg.level
        assert (stages[y] == k).all(), f"samples {y.tolist()} trained at stage {k}, drawn {stages[y].tolist()}"
        assert (seg.height, seg.width, seg.frame_ids, layout.patch_size) == (H >> k, W >> k, tuple(range(T)), patch)
        s, e = model.windows[k]
        assert ((t >= s) & (t <= e)).all()
        covered += y.tolist()
    assert sorted(covered) == list(range(B))


def test_autoregressive_loss_packs_each_sample_at_its_stage_and_frame():
    x1, labels = _data(), torch.arange(B)
    stages, frames = torch.tensor([0, 2, 1, 2, 0, 1]), torch.tensor([2, 0, 1, 2, 1, 0])
    model = Recorder(x1, 3, patch_size=1)
    loss = autoregressive_loss(model, x1[labels], labels, generator=torch.Generator().manual_seed(1), num_stages=3,
                               stages=stages, frames=frames)
    assert loss.item() < 1e-10
    ((packed, y, t),) = model.seen
    assert isinstance(packed, PackedLayout) and y.tolist() == list(range(B)) and packed.patch_size == 1
    for b, layout in enumerate(packed.layouts):
        k, i = int(stages[b]), int(frames[b])
        current = layout.segments[-1]
        assert (current.level, current.frame_ids, current.height, current.width) == (k, (i,), H >> k, W >> k)
        history = [(f, seg.level) for seg in layout.segments[:-1] for f in seg.frame_ids]
        assert history == list(zip(range(i), history_levels(i, k, 3)))
        s, e = model.windows[k]
        assert s <= float(t[b]) <= e
