"""The diffusers adapters: built from cards, counted = the card's analytic FLOPs, local weights safetensors-only,
and `pfbench flops --counted / --stages K` end to end."""
from __future__ import annotations

import json
import re
import shlex

import pytest
import torch

from pfbench.accounting.arch_cards import load_card, shipped_card_names
from pfbench.accounting.card_flops import stage_geometry
from pfbench.cli.main import main
from pfbench.models.build import build_adapter, check_weights_dir, reduced_config
from pfbench.models.counting import counted_vs_card, term_of
from reference_model.layout import clip_layout
from reference_model.protocol import check_velocity_model

PUBLIC = [n for n in shipped_card_names() if not n.startswith("pfbench-")]
DIFFUSERS_CARDS = [n for n in PUBLIC if load_card(n).diffusers]
# two pixel videos per card: a small one and the card's native video
SIZES = {name: [(load_card(name).vae_temporal * 2 + 1, 128, 128),
                (load_card(name).native_frames, load_card(name).native_height, load_card(name).native_width)]
         for name in DIFFUSERS_CARDS}
# terms where the module and the card differ by design (card_flops.NOT_COUNTED), each with the reason
KNOWN_TERM_DIFFERENCES = {
    "hunyuanvideo": {"time": "guidance and pooled-CLIP embedders: per-sample vectors the card does not count"},
    "mochi-1-preview": {"text": "MochiAttentionPool's one pooled query and output: a per-sample vector",
                        "modulation": "the last (context-pre-only) block's smaller text modulation",
                        "linear": "the RoPE frequency einsum (positions x frequencies)"},
}


def test_every_public_card_names_its_diffusers_class_or_why_not():
    assert set(DIFFUSERS_CARDS) >= {"wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "ltx-video-2b", "cogvideox-5b",
                                    "hunyuanvideo", "mochi-1-preview"}
    pyramid_flow = load_card("pyramid-flow-sd3")
    assert pyramid_flow.diffusers is None and "no diffusers class" in pyramid_flow.citation("diffusers")


# the block-count keys of each class, one per card block group (same order): the count test builds every card at
# full width with 2 blocks (1 per group for two groups), so it is quick; the CLI test below counts a whole model
DEPTH_KEYS = {"WanTransformer3DModel": ("num_layers",), "LTXVideoTransformer3DModel": ("num_layers",),
              "CogVideoXTransformer3DModel": ("num_layers",), "MochiTransformer3DModel": ("num_layers",),
              "HunyuanVideoTransformer3DModel": ("num_layers", "num_single_layers")}


def shallow(card):
    """The card and its diffusers config at full width with 2 blocks in all."""
    from dataclasses import replace
    keys = DEPTH_KEYS[card.diffusers["class"]]
    counts = (2,) if len(keys) == 1 else (1,) * len(keys)
    config = {**card.diffusers["config"], **dict(zip(keys, counts))}
    return replace(card, blocks=tuple(replace(g, count=n) for g, n in zip(card.blocks, counts))), config


@pytest.fixture(scope="module")
def meta_adapters() -> dict:
    out = {}
    for name in DIFFUSERS_CARDS:
        card, config = shallow(load_card(name))
        out[name] = (card, build_adapter(card, device="meta", config=config))
    return out


@pytest.mark.parametrize("name", DIFFUSERS_CARDS)
def test_counted_equals_the_card_within_one_percent_at_two_sizes(meta_adapters, name):
    card, adapter = meta_adapters[name]
    check_velocity_model(adapter, name)
    for video in SIZES[name]:
        r = counted_vs_card(card, adapter, *video)
        assert abs(r["relative_difference"]) < 0.01, r
        total = r["analytic"]["total"]
        differing = {k for k, v in r["difference"].items() if k != "total" and abs(v) > 1e-5 * total}
        assert differing <= set(KNOWN_TERM_DIFFERENCES.get(name, {})), (video, r["difference"])


def test_the_term_rules_route_modules_like_the_card():
    assert term_of("blocks.3.attn2.to_k") == "cross_attention" and term_of("blocks.3.attn1") == "attention"
    assert term_of("blocks.3.ffn.net.0.proj") == "linear" and term_of("patch_embedding") == "embed"
    assert term_of("condition_embedder.text_embedder.linear_1") == "text" and term_of("proj_out") == "final"
    assert term_of("transformer_blocks.0.norm1.linear") == "modulation"


def test_a_card_without_a_diffusers_class_is_refused_naming_why(capsys):
    assert main(["flops", "--arch", "pyramid-flow-sd3", "--counted"]) == 2
    err = capsys.readouterr().err
    assert "no diffusers transformer" in err and "PyramidDiffusionMMDiT" in err


def test_counted_without_diffusers_says_how_to_install(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "diffusers", None)
    assert main(["flops", "--arch", "wan2.1-t2v-1.3b", "--counted"]) == 2
    assert "pip install" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ local weights
@pytest.fixture(scope="module")
def saved_tiny_wan(tmp_path_factory):
    card = load_card("wan2.1-t2v-1.3b")
    adapter = build_adapter(card, config=reduced_config(card), text_tokens=4, text="random", seed=5)
    folder = tmp_path_factory.mktemp("wan-tiny")
    adapter.transformer.save_pretrained(folder, safe_serialization=True)
    return card, adapter, folder


def test_weights_load_from_a_local_safetensors_folder(saved_tiny_wan):
    card, adapter, folder = saved_tiny_wan
    loaded = build_adapter(card, weights=folder, text_tokens=4, text="random", seed=5)
    x = torch.randn(1, 16, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    layout = clip_layout(2, 4, 4, 2)
    with torch.no_grad():
        a, b = adapter([x], layout, torch.tensor([0.4]))[0], loaded([x], layout, torch.tensor([0.4]))[0]
    assert torch.equal(a, b)
    other = build_adapter(card, config=reduced_config(card), text_tokens=4, text="random", seed=6)
    with torch.no_grad():
        assert not torch.allclose(other([x], layout, torch.tensor([0.4]))[0], a)   # the seed is the init


def test_weights_refuse_pickles_other_families_and_non_folders(saved_tiny_wan, tmp_path):
    _, _, folder = saved_tiny_wan
    with pytest.raises(ValueError, match="LTXVideoTransformer3DModel"):
        check_weights_dir(folder, "LTXVideoTransformer3DModel")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for f in folder.iterdir():
        (pickled / f.name).write_bytes(f.read_bytes())
    (pickled / "diffusion_pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"diffusion_pytorch_model\.bin is a pickle"):
        check_weights_dir(pickled, "WanTransformer3DModel")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        check_weights_dir(tmp_path / "empty", "WanTransformer3DModel")
    with pytest.raises(ValueError, match="not a folder"):
        check_weights_dir(tmp_path / "nope", "WanTransformer3DModel")


def test_flops_counted_reads_a_weights_folders_config(saved_tiny_wan, capsys):
    folder = saved_tiny_wan[2]
    argv = ["flops", "--arch", "wan2.1-t2v-1.3b", "--video", "5x64x64", "--counted", "--weights", str(folder),
            "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counted_inference_flops"] < 1e-3 * report["inference_flops"]      # the tiny config was counted
    assert str(folder) in report["counted_by"]


# ------------------------------------------------------------------------------------------------ the CLI
def test_flops_counted_equals_the_card_per_stage(capsys, tmp_path):
    """The issue's command on a 2-block copy of the Wan2.1-1.3B card (same width; counting all 30 blocks three
    times is what the command does, and takes ~10x longer)."""
    from importlib import resources
    data = json.loads((resources.files("pfbench.accounting") / "cards" / "wan2.1-t2v-1.3b.json").read_text())
    data["fields"]["blocks"]["value"][0]["count"] = 2
    data["fields"]["diffusers"]["value"]["config"]["num_layers"] = 2
    card = tmp_path / "wan-2-blocks.json"
    card.write_text(json.dumps(data))
    argv = ["flops", "--arch", str(card), "--video", "81x448x832", "--stages",
            "21x112x208,41x224x416,81x448x832", "--steps", "20,20,10", "--counted", "--json"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["counted_inference_flops"] == r["inference_flops"]
    assert [s["counted_flops"] for s in r["per_stage"]] == [s["flops"] for s in r["per_stage"]]
    assert all(not any(s["difference_terms"].values()) for s in r["per_stage"])
    assert 0.7 < r["saving"] < 0.8            # 20-20-10 against 50 full-size steps (the card's analytic count)


@pytest.mark.parametrize("name", PUBLIC)
def test_flops_stages_k_picks_valid_sizes_at_the_native_video(capsys, name):
    assert main(["flops", "--arch", name, "--stages", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    card = load_card(name)
    assert len(r["per_stage"]) == 3 and len(r["stage_sizes"]) == 3 and 0.4 < r["saving"] < 0.8
    for s in r["per_stage"]:
        stage_geometry(card, s["frames"], s["height"], s["width"])      # every stage divides
    assert r["per_stage"][-1]["height"] == card.native_height
    assert r["per_stage"][0]["height"] <= r["per_stage"][1]["height"] <= card.native_height


def _use(err: str) -> list[str]:
    match = re.search(r"; use (--\S+ \S+)", err)
    assert match, err
    return shlex.split(match.group(1))


WAN = ["flops", "--arch", "wan2.1-t2v-1.3b"]


@pytest.mark.parametrize("bad", [WAN + ["--video", "81x450x832"], WAN + ["--video", "80x448x832"],
                                 WAN + ["--video", "81x448x832", "--stages", "20x112x200,41x224x416,81x448x832"],
                                 ["flops", "--resolution", "700x500", "--json"]])
def test_every_use_in_an_error_can_be_typed_as_it_is(capsys, bad):
    assert main(bad) == 2
    fix = _use(capsys.readouterr().err)
    fixed = list(bad)
    fixed[fixed.index(fix[0]) + 1] = fix[1]
    assert main(fixed) == 0, fixed


def test_a_cards_diffusers_field_is_validated():
    from importlib import resources

    from pfbench.accounting.arch_cards import parse_card
    data = json.loads((resources.files("pfbench.accounting") / "cards" / "ltx-video-2b.json").read_text())
    data["fields"]["diffusers"]["value"] = "LTXVideoTransformer3DModel"
    with pytest.raises(ValueError, match="diffusers must be"):
        parse_card(data, "x.json")
    data["fields"]["diffusers"] = {"value": None, "source": "transformer"}
    with pytest.raises(ValueError, match="null without a"):
        parse_card(data, "x.json")
