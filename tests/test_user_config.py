"""A run on what a researcher brings: TOML configs (built-in presets are files; --set; every key validated, bad input
one line, exit 2, nothing written), a folder of their videos (unreadable files named and skipped), their own velocity
model (model.factory), and the estimate a --dry-run prints."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pfbench.cli.main import main
from pfbench.core.config import PRESET_DIR, PRESETS, get_preset, resolve_run_config
from pfbench.core.config_toml import flatten, preset_from_flat, read_toml, render

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "videos"
MODEL_FILE = Path(__file__).parent / "fixtures" / "external_velocity_model.py"


def test_builtin_presets_are_the_shipped_files_and_render_round_trips(tmp_path):
    assert sorted(p.stem for p in PRESET_DIR.glob("*.toml")) == sorted(PRESETS)
    for name, preset in PRESETS.items():
        text = render(preset)
        (tmp_path / f"{name}.toml").write_text(text)
        assert preset_from_flat(flatten(read_toml(tmp_path / f"{name}.toml"), name), name) == preset
    assert get_preset("smoke").train_steps == 4 and get_preset("cpu").model == "small"
    assert get_preset("paper-768p-10s").frames == 31  # 1 + 240 // 8 latent frames, derived from [video]


def test_set_env_and_data_layers_in_order(tmp_path):
    r = resolve_run_config("smoke", sets=("data.frames=5", "sample.steps_first_frame=[3, 3, 3]",
                                          "model.factory=pkg.mod:fn", "memory.budget_gib=0.75"),
                           data=(str(tmp_path),), environ={"PFBENCH_MEMORY_BUDGET_GIB": "0.25",
                                                           "PFBENCH_ABLATIONS_FULL": "1"})
    p = r.preset
    assert (p.frames, p.steps_first_frame, p.model_factory) == (5, (3, 3, 3), "pkg.mod:fn")
    assert p.memory_budget_gib == 0.75 and p.ablations_full is True  # --set wins over the environment
    assert p.data_sources == (str(tmp_path.resolve()),)
    assert r.sources["env"] == {"PFBENCH_MEMORY_BUDGET_GIB": "0.25", "PFBENCH_ABLATIONS_FULL": "1"}


def test_a_config_file_inherits_a_preset_and_resolves_sources_beside_it(tmp_path):
    (tmp_path / "clips").mkdir()
    cfg = tmp_path / "study.toml"
    cfg.write_text('base = "smoke"\n[data]\nsources = ["clips"]\n[train]\nbatch_size = 3\n')
    p = resolve_run_config(config_file=cfg).preset
    assert p.batch_size == 3 and p.name == "smoke" and p.data_sources == (str((tmp_path / "clips").resolve()),)
    assert p.replace(batch_size=2, data_sources=()) == get_preset("smoke")


@pytest.mark.parametrize("text, message", [
    ('base = "smoke"\n[model]\nbackbon = "tiny"\n', "unknown key model.backbon; did you mean model.backbone"),
    ('base = "smoke"\n[modle]\nbackbone = "tiny"\n', r"unknown section \[modle\]; did you mean model"),
    ('base = "smoke"\n[data]\nframes = "3"\n', 'data.frames = "3": expected a whole number'),
    ('base = "smoke"\n[data]\nframes = 0\n', "data.frames = 0: must be a positive number"),
    ('base = "smoke"\n[run]\ndtype = "fp8"\n', 'run.dtype = "fp8": must be one of float32, bfloat16, float16'),
    ('base = "smoke"\n[data]\nheight = 12\n', "data.height = 12 must be divisible by 8"),
    ('base = "smoke"\n[sample]\nsteps_first_frame = [2, 2]\n', "has 2 entries but pyramid.stages = 3"),
    ('base = "smoke"\n[data\n', r"not valid TOML: .*line 2, column"),
    ('[model]\nbackbone = "tiny"\n', "missing key"),
])
def test_bad_config_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--suites", "tokens"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(cfg) in err
    assert __import__("re").search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--set", "data.frame=4"], "--set data.frame: unknown key; did you mean data.frames"),
    (["--set", "memory.budget_gib=-1"], "memory.budget_gib = -1: must be a positive number"),
    (["--set", "model.factory=no_such_module_xyz:build"], "cannot import no_such_module_xyz"),
    (["--set", "model.factory=external_velocity_model:not_a_module"], "returned str, not a torch.nn.Module"),
    (["--set", "model.factory=external_velocity_model:missing"], "has no function 'missing'"),
])
def test_bad_set_or_factory_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.syspath_prepend(str(MODEL_FILE.parent))
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--suites", "tokens", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_folder_with_no_readable_video_is_refused(tmp_path, capsys):
    folder = tmp_path / "videos" / "deep"
    folder.mkdir(parents=True)
    (folder / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    assert main(["run", "--preset", "smoke", "--data", str(tmp_path / "videos"), "--out", str(tmp_path / "run"),
                 "--suites", "fid"]) == 2
    err = capsys.readouterr().err
    assert "no usable video among 1" in err and "broken.mp4" in err and not (tmp_path / "run").exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/videos not present")
def test_unreadable_files_are_named_and_skipped_and_counted(tmp_path):
    from pfbench.experiments.inputs import check_run_inputs

    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(SHARED / "h264_340x256_30fps.mp4", folder / "sub")
    (folder / "broken.mp4").write_bytes(b"\x00" * 500)
    inputs = check_run_inputs(resolve_run_config("smoke", data=(str(folder),)).preset, progress=False)
    rows = {r["metric"]: r for r in inputs.rows() if r["case"] == "data" and r["metric"].startswith("clips_")}
    assert rows["clips_used"]["value"] == 1 and rows["clips_skipped"]["value"] == 1
    skipped = [r for r in inputs.rows() if r["status"] == "skipped"]
    assert len(skipped) == 1 and "broken.mp4" in skipped[0]["note"]
    longer = resolve_run_config("smoke", data=(str(folder),), sets=("data.clip_frames=6", "data.clip_width=24"))
    assert check_run_inputs(longer.preset, progress=False).clip.startswith("6 x 16 x 24")
    from pfbench.experiments.shapes import experiment_shape
    scale = experiment_shape(longer.preset)
    assert (scale.frames, scale.width, scale.convergence.frames, scale.convergence.data) == (6, 24, 6, "real")


def test_dry_run_estimate_is_the_accountings_and_a_machine_that_cannot_run_is_refused(tmp_path, capsys):
    from pfbench.accounting.flops import variant_counts
    from pfbench.accounting.shapes import ModelShape, VideoShape
    from pfbench.experiments.estimate import fits_machine, run_estimate
    from pfbench.train.loop import model_for_preset

    smoke = get_preset("smoke")
    est = run_estimate(smoke, ("throughput",))
    assert est.params == sum(p.numel() for p in model_for_preset(smoke).parameters())
    assert est.flops_per_step["full_sequence"] == smoke.batch_size * variant_counts(
        "full_sequence", VideoShape.from_preset(smoke), ModelShape.from_preset(smoke)).train_flops_per_sample
    huge = resolve_run_config("smoke", sets=("model.backbone=large", "data.height=512", "data.width=512",
                                             "data.frames=64")).preset
    assert "GiB per training step" in fits_machine(run_estimate(huge, ("throughput",)), "cpu")
    assert fits_machine(est, "cpu") is None
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--set", "model.backbone=large", "--set", "data.height=512",
                 "--set", "data.width=512", "--set", "data.frames=64", "--out", str(out)]) == 2
    assert "pfbench run --dry-run" in capsys.readouterr().err and not out.exists()


def test_config_show_and_dry_run_from_the_console(tmp_path):
    """The real commands, as a user types them: show a preset, run from that file dry, nothing written."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-m", "pfbench.cli.main", "config", "show", "cpu"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0 and "# pyramid stages K" in shown.stdout
    (tmp_path / "study.toml").write_text(shown.stdout)
    dry = subprocess.run([sys.executable, "-m", "pfbench.cli.main", "run", "--config", "study.toml", "--dry-run",
                          "--suites", "throughput"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert dry.returncode == 0, dry.stderr
    params = sum(p.numel() for p in __import__("pfbench.train.loop", fromlist=["x"]).model_for_preset(
        get_preset("cpu")).parameters())
    assert f"parameters: {params:,}" in dry.stdout and "memory per step" in dry.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]  # nothing written


@pytest.mark.slow  # three suites in subprocesses: about a minute on 2 idle cores (2-3 on a shared machine)
def test_an_external_model_runs_through_tokens_throughput_and_fid(tmp_path, monkeypatch):
    """A velocity model from a file outside the package: built by model.factory, trained, timed and scored."""
    folder = tmp_path / "outside"
    folder.mkdir()
    shutil.copy(MODEL_FILE, folder / "my_velocity.py")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", f"{folder}")
    run = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--set", "model.factory=my_velocity:build", "--set", "fid.budget_s=1",
                 "--suites", "tokens,throughput,fid", "--out", str(run), "--no-report"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["preset"]["model_factory"] == "my_velocity:build"
    assert "factory = \"my_velocity:build\"" in (run / "config.toml").read_text()
    statuses = {p.stem: json.loads(p.read_text())["status"] for p in (run / "status").glob("*.json")}
    assert statuses == {"tokens": "passed", "throughput": "passed", "fid": "passed"}
    rows = [json.loads(line) for line in (run / "rows" / "fid.jsonl").read_text().splitlines()]
    fids = [r for r in rows if r["metric"] == "fid" and r.get("value") is not None]
    assert fids and all(r["value"] > 0 for r in fids)


def _latent_folder(folder: Path, channels: int = 4, shapes=((4, 6, 16, 16),) * 3) -> Path:
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    for i, shape in enumerate(shapes):
        save_file({"latent": torch.randn(*shape, generator=g)}, str(folder / f"clip{i}.safetensors"))
    (folder / "manifest.json").write_text(json.dumps({"channels": channels, "vae_spatial": 8, "vae_temporal": 4}))
    return folder


def test_latents_train_in_their_space_and_pixel_suites_say_why_they_skip(tmp_path, capsys):
    from pfbench.data.latents import LatentClips

    lat = _latent_folder(tmp_path / "lat")
    train, held = (LatentClips(lat, 2, 8, 8, split=s, num_clips=6) for s in ("train", "heldout"))
    assert train.tensors()[0].shape == (6, 4, 2, 8, 8)
    with pytest.raises(ValueError, match="heldout segment .2 latent frames"):
        LatentClips(lat, 3, 8, 8, split="heldout")
    assert train.segments[0] == (0, 4) and held.segments[0] == (4, 6)  # the last quarter is held out (round(4.5))
    assert main(["train", "--preset", "smoke", "--set", f"data.latents={lat}", "--set", "data.channels=4",
                 "--steps", "2", "--out", str(tmp_path / "t")]) == 0
    assert "training on 3 latent clip(s)" in capsys.readouterr().out
    run = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--set", f"data.latents={lat}", "--set", "data.channels=4",
                 "--suites", "fid", "--out", str(run), "--no-report"]) == 0
    status = json.loads((run / "status" / "fid.json").read_text())
    assert status["status"] == "skipped" and "needs decoded pixels" in status["note"]
    rows = [json.loads(line) for line in (run / "rows" / "data.jsonl").read_text().splitlines()]
    assert [r["value"] for r in rows if r["metric"] == "latent_clips"] == [3]
    assert "3 latent clip(s)" in (run / "logs" / "data.log").read_text()


@pytest.mark.parametrize("channels, shapes, message", [
    (4, ((4, 6, 16, 16), (3, 6, 16, 16)), r"clip1.safetensors: tensor 'latent' has shape \(3, 6, 16, 16\)"),
    (4, ((4, 6, 16),), r"has shape \(4, 6, 16\)"),
    (3, ((3, 6, 16, 16),), None),
])
def test_latents_that_disagree_with_their_manifest_are_refused(tmp_path, capsys, channels, shapes, message):
    lat = _latent_folder(tmp_path / "lat", channels, shapes)
    out = tmp_path / "run"
    code = main(["run", "--preset", "smoke", "--set", f"data.latents={lat}", "--set", "data.channels=4",
                 "--suites", "tokens", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert __import__("re").search(message or "manifest says channels = 3 but data.channels = 4", err), err


def test_every_key_is_documented_in_help_and_readme():
    from pfbench.cli.main import build_parser
    from pfbench.core.config_keys import KEYS

    help_text = build_parser(only="run")._subparsers._group_actions[0].choices["run"].format_help()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in KEYS:
        assert f"  {key.name} ({key.kind})" in help_text and f"| `{key.name}` |" in readme, key.name
