"""`pfbench flops --arch`: the issue's commands end to end, JSON keys, guidance, errors naming the input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pfbench.accounting.arch_cards import load_card
from pfbench.accounting.card_flops import card_forward_flops, stage_geometry
from pfbench.cli.main import main

WAN = ["flops", "--arch", "wan2.1-t2v-1.3b", "--video", "81x448x832"]
PYRAMID = ["--stages", "21x112x208,41x224x416,81x448x832", "--steps", "20,20,10"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_spatio_temporal_pyramid_json(capsys):
    report = _json(capsys, WAN + PYRAMID + ["--json"])
    for key in ("inference_flops", "per_stage", "params", "train_flops_per_sample", "assumptions"):
        assert key in report
    card = load_card("wan2.1-t2v-1.3b")
    stages = report["per_stage"]
    assert [(s["frames"], s["latent_frames"], s["tokens"], s["steps"]) for s in stages] == \
        [(21, 6, 6 * 7 * 13, 20), (41, 11, 11 * 14 * 26, 20), (81, 21, 21 * 28 * 52, 10)]
    for s in stages:
        n = s["tokens"]
        assert s["attention_pairs"] == n * n + n * 512            # self pairs + cross pairs to 512 text tokens
        assert s["flops_per_step"] == card_forward_flops(card, n)["total"]
    assert report["inference_flops"] == sum(s["steps"] * s["flops_per_step"] for s in stages)
    assert report["guidance_branches"] == 1 and "one guidance branch" in report["assumptions"]["guidance"]
    assert any("VAE" in item for item in report["assumptions"]["not_counted"])
    assert report["params"] == 1_418_440_768


def test_full_resolution_steps_and_cfg(capsys):
    full = _json(capsys, WAN + ["--steps", "50", "--json"])
    assert len(full["per_stage"]) == 1 and full["per_stage"][0]["tokens"] == 30576
    assert full["inference_flops"] == 50 * full["per_stage"][0]["flops_per_step"]
    assert full["train_flops_per_sample"] == 3 * full["per_stage"][0]["flops_per_step"]
    cfg = _json(capsys, WAN + ["--steps", "50", "--cfg", "--json"])
    assert cfg["inference_flops"] == 2 * full["inference_flops"] and cfg["model_evaluations"] == 100
    pyramid = _json(capsys, WAN + PYRAMID + ["--json"])
    assert pyramid["inference_flops"] < 0.3 * full["inference_flops"]


def test_stages_as_a_count_halves_space(capsys):
    report = _json(capsys, WAN + ["--stages", "3", "--steps", "10", "--json"])
    assert [s["latent_height"] for s in report["per_stage"]] == [14, 28, 56]
    assert {s["latent_frames"] for s in report["per_stage"]} == {21}


def test_pyramid_ar_card_reports_the_temporal_pyramid(capsys):
    report = _json(capsys, ["flops", "--arch", "pyramid-flow-sd3", "--json"])
    ar = report["autoregressive"]
    assert ar["pyramid_ar"]["inference_flops"] < ar["ar_full_history"]["inference_flops"]
    assert ar["steps_first_frame"] == [20, 20, 20] and ar["steps_later_frames"] == [10, 10, 10]
    assert stage_geometry(load_card("pyramid-flow-sd3"), 241, 768, 1280)["latent_frames"] == 31


def test_card_file_path_and_listing(capsys, tmp_path):
    from importlib import resources
    path = tmp_path / "mine.json"
    path.write_text((resources.files("pfbench.accounting") / "cards" / "ltx-video-2b.json").read_text())
    report = _json(capsys, ["flops", "--arch", str(path), "--json"])
    assert report["per_stage"][0]["tokens"] == 21 * 16 * 22            # native 161x512x704 on a 32x8 VAE
    assert main(["flops", "--list-arch"]) == 0
    assert "hunyuanvideo" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (WAN[:-1] + ["80x448x832"], "--video: 80 frames"),
    (WAN + ["--stages", "21x112x208,41x224x416", "--steps", "5"], "must equal --video"),
    (WAN + PYRAMID[:2] + ["--steps", "20,10"], "one per stage"),
    (WAN + ["--steps", "x"], "--steps 'x'"),
    (["flops", "--arch", "nope"], "unknown architecture"),
    (["flops", "--preset", "cpu", "--steps", "5"], "add --arch"),
])
def test_bad_input_is_one_line_naming_it(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_the_installed_command_prints_the_breakdown():
    out = subprocess.run([sys.executable, "-m", "pfbench.cli", *WAN, *PYRAMID], capture_output=True, text=True,
                         check=True).stdout
    assert "inference FLOPs per video" in out and "21x56x104" in out
