"""Architecture cards: every number cited, hand-computed FLOPs/params, FlopCounterMode on the reference backbone."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from pfbench.accounting.arch_cards import (
    ArchCard,
    BlockGroup,
    all_cards,
    backbone_card,
    backbone_gaps,
    build_card_model,
    load_card,
    parse_card,
    shipped_card_names,
)
from pfbench.accounting.card_flops import (
    build_schedule,
    card_forward_flops,
    card_params,
    latent_frames,
    savings_row,
    schedule_report,
    spatio_temporal_frames,
    stage_geometry,
)
from pfbench.accounting.flops import forward_flops
from pfbench.accounting.shapes import ModelShape
from pfbench.measure.flops import count_flops
from reference_model.layout import clip_layout

PUBLIC = ["pyramid-flow-sd3", "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "hunyuanvideo", "cogvideox-5b", "ltx-video-2b"]


def tiny(text: str = "none", modulation: int = 6, text_tokens: int = 0, **kw) -> ArchCard:
    """D=8, 2 heads, FFN 16, 4 channels, 1x2x2 patches, no VAE: small enough to count by hand."""
    return ArchCard(name="tiny", hidden_size=8, num_heads=2, ffn_hidden=16, ffn_gated=False, patch_t=1, patch_h=2,
                    patch_w=2, latent_channels=4, vae_temporal=1, vae_spatial=1, vae_causal=False,
                    blocks=(BlockGroup(1, text, modulation),), time_freq_dim=4, time_dim=8, shared_modulation=0,
                    final_modulation=2, native_frames=1, native_height=4, native_width=6, native_steps=1,
                    training="full_sequence", text_tokens=text_tokens, text_dim=5 if text_tokens else 0,
                    text_projection=((5, 8),) if text_tokens else (), **kw)


# --------------------------------------------------------------------------------------------------
# The shipped cards
# --------------------------------------------------------------------------------------------------
def test_every_public_model_ships_a_card_and_presets_are_cards():
    names = shipped_card_names()
    assert set(PUBLIC) <= set(names)
    assert {"pfbench-cpu", "pfbench-gpu", "pfbench-smoke"} <= set(names)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_number_in_a_card_cites_a_public_source(name):
    from importlib import resources
    data = json.loads((resources.files("pfbench.accounting") / "cards" / f"{name}.json").read_text())
    for field, entry in data["fields"].items():
        assert entry["source"] in data["sources"] or entry["source"] == "derived", field
        assert entry.get("key"), f"{name}.{field} names no key/derivation in its source"
        if entry["source"] != "derived":
            assert data["sources"][entry["source"]].startswith(("https://", "pfbench ", "Jin et al."))
    card = load_card(name)
    assert card.citation("hidden_size")


@pytest.mark.parametrize("card", [c for c in all_cards() if c.published_params], ids=lambda c: c.name)
def test_counted_parameters_match_the_published_size(card):
    # the published sizes are rounded model names ("1.3B", "5B", "over 13 billion"): within 15%
    assert card_params(card) == pytest.approx(card.published_params, rel=0.15)


def test_bad_cards_fail_with_the_field_named(tmp_path):
    good = json.loads(json.dumps({"name": "x", "sources": {"s": "https://example.org/config.json"},
                                  "fields": {}}))
    with pytest.raises(ValueError, match="missing fields"):
        parse_card(good, "x.json")
    data = json.loads((__import__("importlib").resources.files("pfbench.accounting") / "cards" /
                       "wan2.1-t2v-1.3b.json").read_text())
    data["fields"]["hidden_size"]["source"] = "nowhere"
    with pytest.raises(ValueError, match="hidden_size.*nowhere"):
        parse_card(data, "bad.json")
    data["fields"]["hidden_size"] = {"value": None, "source": "unknown"}
    with pytest.raises(ValueError, match="null without a \"note\""):
        parse_card(data, "bad.json")
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_card(str(path))
    with pytest.raises(ValueError, match="unknown architecture"):
        load_card("no-such-model")


# --------------------------------------------------------------------------------------------------
# Hand-computed counts
# --------------------------------------------------------------------------------------------------
def test_forward_flops_by_hand_without_text():
    terms = card_forward_flops(tiny(), tokens=6)            # 6 tokens, 36 bidirectional pairs
    assert terms["embed"] == 2 * 6 * 16 * 8 == 1536
    assert terms["time"] == 2 * (4 * 8 + 8 * 8) == 192
    assert terms["modulation"] == 2 * 8 * 6 * 8 == 768
    assert terms["linear"] == 6 * (2 * 8 * 32 + 2 * 2 * 8 * 16) == 6144
    assert terms["attention"] == 4 * 8 * 36 == 1152
    assert terms["final"] == 2 * 8 * 2 * 8 + 2 * 6 * 8 * 16 == 1792
    assert terms["total"] == 11584


def test_forward_flops_by_hand_with_cross_and_joint_text():
    cross = card_forward_flops(tiny("cross", text_tokens=3), tokens=6)
    assert cross["text"] == 2 * 3 * 5 * 8 == 240
    # Q and output on 6 video tokens, K and V on 3 text tokens, 6 x 3 pairs
    assert cross["cross_attention"] == 2 * 6 * 8 * 8 * 2 + 2 * 3 * 8 * 16 + 4 * 8 * 6 * 3 == 2880
    assert cross["total"] == 11584 + 240 + 2880
    joint = card_forward_flops(tiny("dual", 12, text_tokens=3), tokens=6)
    assert joint["modulation"] == 2 * 8 * 12 * 8 == 1536
    assert joint["linear"] == 9 * 1024                       # video and text tokens through the linears
    assert joint["attention"] == 4 * 8 * (36 + 2 * 6 * 3 + 9) == 2592
    assert joint["total"] == 17104
    single = card_forward_flops(tiny("single", 12, text_tokens=3), tokens=6)
    assert single["total"] == joint["total"]                  # same FLOPs, shared weights
    assert card_params(tiny("dual", 12, text_tokens=3)) > card_params(tiny("single", 12, text_tokens=3))


def test_params_by_hand_and_gated_ffn():
    # patch 136 + time 40 + 72 + final linear 144 + final adaLN 144 + block (attn 288 + FFN 280 + adaLN 432)
    assert card_params(tiny()) == 1536
    gated = replace(tiny(), ffn_gated=True)
    assert card_params(gated) == 1536 + 8 * 16 + 16
    assert card_forward_flops(gated, 6)["linear"] == 6 * (2 * 8 * 32 + 3 * 2 * 8 * 16)


def test_backbone_card_equals_the_accounting_forward_for_pfbench_presets():
    card = load_card("pfbench-cpu")
    assert not backbone_gaps(card)
    model = ModelShape(card.hidden_size, card.depth, card.ffn_hidden, card.latent_channels, card.patch_h)
    for tokens, pairs, out in ((256, 256 * 256, None), (1000, 300_000, 64)):
        assert card_forward_flops(card, tokens, pairs, out)["total"] == forward_flops(model, tokens, pairs, out)


# --------------------------------------------------------------------------------------------------
# FlopCounterMode on the reference backbone built from a card
# --------------------------------------------------------------------------------------------------
def _counted(model, layout, shape, device):
    """FlopCounterMode (pfbench.measure.flops.count_flops registers CPU SDPA) on one forward."""
    x = torch.zeros(shape, device=device)
    with torch.no_grad():
        return count_flops(lambda: model([x], layout, torch.zeros(shape[0], device=device))).total_flops


@pytest.mark.parametrize("name", ["wan2.1-t2v-1.3b", "cogvideox-5b", "pfbench-gpu"])
def test_flop_counter_on_the_meta_device_matches_the_card(name):
    """Real widths at depth 1 on the meta device. The backbone has no text path, so the comparison is with
    the card's text-free twin (backbone_card); the text terms are checked by hand above."""
    card = backbone_card(load_card(name)).with_depth(1)
    model = build_card_model(card, device="meta")
    layout = clip_layout(2, 8, 12, card.patch_h)
    tokens = layout.num_tokens
    assert _counted(model, layout, (1, card.latent_channels, 2, 8, 12), "meta") == \
        card_forward_flops(card, tokens)["total"]
    linear = sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert linear == card_params(card)


def test_flop_counter_on_cpu_for_a_small_card():
    card = load_card("pfbench-smoke")
    model = build_card_model(card)
    layout = clip_layout(3, 16, 16, card.patch_h)
    assert _counted(model, layout, (1, card.latent_channels, 3, 16, 16), "cpu") == \
        card_forward_flops(card, layout.num_tokens)["total"]
    assert model.cfg.mlp_hidden == card.ffn_hidden


def test_depth_reduction_keeps_width():
    card = load_card("wan2.1-t2v-14b").with_depth(2)
    assert card.depth == 2 and card.hidden_size == 5120
    cfg = build_card_model(backbone_card(card), device="meta").cfg
    assert (cfg.depth, cfg.hidden_size, cfg.mlp_hidden, cfg.num_heads) == (2, 5120, 13824, 40)


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------
def test_latent_geometry_of_a_causal_vae():
    wan = load_card("wan2.1-t2v-1.3b")
    assert latent_frames(wan, 81) == 21 and latent_frames(wan, 1) == 1
    geo = stage_geometry(wan, 81, 448, 832)
    assert (geo["latent_height"], geo["latent_width"], geo["tokens"]) == (56, 104, 21 * 28 * 52)
    with pytest.raises(ValueError, match="1 \\+ 4n frames.*81"):
        latent_frames(wan, 80)
    with pytest.raises(ValueError, match="height 450 .* nearest that divide: 448 or 464"):
        stage_geometry(wan, 81, 450, 832)
    with pytest.raises(ValueError, match="nearest that fit: 81 or 77"):
        latent_frames(wan, 80)


def test_spatial_and_spatio_temporal_schedules():
    wan = load_card("wan2.1-t2v-1.3b")
    spatial = build_schedule(wan, (81, 448, 832), 3, (20,))
    assert [(s.frames, s.height, s.width, s.steps) for s in spatial] == \
        [(81, 112, 208, 20), (81, 224, 416, 20), (81, 448, 832, 20)]
    assert spatio_temporal_frames(wan, 81, 3) == [21, 41, 81]
    assert spatio_temporal_frames(load_card("pyramid-flow-sd3"), 241, 3) is None   # 30 intervals / 4: no
    with pytest.raises(ValueError, match="one per stage"):
        build_schedule(wan, (81, 448, 832), 3, (20, 10))
    with pytest.raises(ValueError, match="must equal --video"):
        build_schedule(wan, (81, 448, 832), [(21, 112, 208)], (20,))


def test_schedule_report_totals_and_guidance():
    card = tiny()
    schedule = build_schedule(card, (2, 4, 8), 2, (3, 5))
    one, two = schedule_report(card, schedule), schedule_report(card, schedule, cfg=True)
    assert one["inference_flops"] == sum(s["steps"] * s["flops_per_step"] for s in one["per_stage"])
    assert two["inference_flops"] == 2 * one["inference_flops"]
    low, full = (card_forward_flops(card, s["tokens"])["total"] for s in one["per_stage"])
    assert one["per_stage"][0]["tokens"] == 2 * 1 * 2 and one["per_stage"][1]["tokens"] == 2 * 2 * 4
    assert one["train_flops_per_sample"] == pytest.approx(3 * (low + full) / 2)   # uniform over 2 stages


def test_savings_row_rounds_to_a_pyramid_size_and_saves():
    row = savings_row(load_card("wan2.1-t2v-1.3b"))
    assert row["video"] == "81x448x832" and row["native"] == "81x480x832"
    sched = row["schedules"]
    assert 0 < sched["spatial"]["inference_saving"] < sched["spatio_temporal"]["inference_saving"] < 1
    assert sched["full"]["gpu_seconds"]["H100 SXM"] < sched["full"]["gpu_seconds"]["A100 SXM 80GB"]


def test_ar_report_of_a_preset_card_equals_the_variant_accounting():
    """The card path and pfbench.accounting price pfbench's own backbone identically (one source of truth)."""
    from pfbench.accounting.card_flops import ar_card_report
    from pfbench.accounting.flops import variant_counts
    from pfbench.accounting.shapes import VideoShape
    from pfbench.core.config import get_preset
    from reference_model.variants import SamplingSchedule
    preset = get_preset("cpu")
    card = load_card("pfbench-cpu")
    report = ar_card_report(card, (preset.frames, preset.height, preset.width), 3, preset.steps_first_frame,
                            preset.steps_later_frames)
    model = ModelShape(card.hidden_size, card.depth, card.ffn_hidden, card.latent_channels, card.patch_h)
    schedule = SamplingSchedule(preset.full_sequence_steps, preset.steps_first_frame, preset.steps_later_frames)
    for variant in ("pyramid_ar", "ar_full_history"):
        counts = variant_counts(variant, VideoShape.from_preset(preset), model, schedule)
        assert report[variant]["inference_flops"] == pytest.approx(counts.sample_flops_per_video, rel=1e-12)
        assert report[variant]["train_flops_per_sample"] == pytest.approx(counts.train_flops_per_sample, rel=1e-12)
