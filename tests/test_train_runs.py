"""Run folders: periodic checkpoints (steps and seconds), the last k kept, log.csv once per step, resume,
refusal of another variant/preset/model shape, SIGINT leaves a complete checkpoint."""
import signal
import subprocess
import sys
import time

import pytest
import torch

from pfbench.cli.main import main
from pfbench.core.config import get_preset
from pfbench.train.checkpoint import list_checkpoints, load_checkpoint, load_payload
from pfbench.train.loop import RunConfig, TrainConfig, model_for_preset, train
from pfbench.train.rundir import LOG_FIELDS, read_log

SMOKE = get_preset("smoke")
CFG = TrainConfig(variant="spatial_pyramid", steps=6, batch_size=2, dataset_size=8, warmup_steps=2)


def _steps(run):
    return [int(r["step"]) for r in read_log(run / "log.csv") if r["kind"] == "train"]


def test_run_folder_checkpoints_keep_and_log(tmp_path):
    run = tmp_path / "run"
    result = train(CFG, SMOKE, run=RunConfig(out=run, checkpoint_every=2, keep=2))
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-00000004.pt", "ckpt-00000006.pt"]
    payload = load_payload(run / "last.pt")
    assert payload["step"] == 6 and payload["progress"]["samples"] == 12 and payload["data"]["samples"] == 12
    assert set(payload) >= {"state_dict", "ema", "optimizer", "scheduler", "rng", "progress", "identity"}
    assert payload["rng"][0]["numpy"]["keys"].numel() == 624 and payload["scheduler"]["last_epoch"] == 6
    rows = read_log(run / "log.csv")
    assert tuple(rows[0]) == LOG_FIELDS and _steps(run) == [1, 2, 3, 4, 5, 6]
    assert [float(r["loss"]) for r in rows] == pytest.approx(result.losses, rel=1e-12)
    assert float(rows[-1]["tokens"]) > 0 and float(rows[-1]["train_flops"]) > float(rows[0]["train_flops"]) > 0
    assert float(rows[0]["lr"]) == pytest.approx(CFG.lr / 2) and float(rows[-1]["grad_norm"]) > 0
    model, meta = load_checkpoint(run)  # a run folder means its last.pt
    assert meta["step"] == 6 and meta["variant"] == "spatial_pyramid" and meta["preset_config"]["name"] == "smoke"
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values()):
        assert torch.equal(a, b.cpu())


def test_seconds_cadence_and_resume_logs_each_step_once(tmp_path):
    run = tmp_path / "run"
    train(CFG.__class__(**{**CFG.__dict__, "steps": 3}), SMOKE,
          run=RunConfig(out=run, checkpoint_every=1000, checkpoint_seconds=0.0, keep=10))
    assert [p.name for p in list_checkpoints(run)] == [f"ckpt-{s:08d}.pt" for s in (1, 2, 3)]
    # a row logged after the last checkpoint (step 4 here) is redone on resume, never duplicated
    with open(run / "log.csv", "a") as fh:
        fh.write("train,4,8,0,0,0,0.5,0.001,1.0,,\ntrain,5,10,0")  # plus a torn line
    resumed = train(CFG, SMOKE, run=RunConfig(out=run, checkpoint_every=2))
    assert resumed.resumed_from == 3 and _steps(run) == [1, 2, 3, 4, 5, 6]
    straight = train(CFG, SMOKE, run=RunConfig(out=tmp_path / "straight", checkpoint_every=2))
    assert resumed.losses == pytest.approx(straight.losses[3:], rel=1e-6)


def test_resume_refuses_another_variant_preset_or_shape(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--variant", "pyramid_ar", "--preset", "smoke", "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--variant", "full_sequence", "--preset", "smoke", "--steps", "2", "--out", str(run),
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert 'variant="pyramid_ar"' in err and 'variant="full_sequence"' in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--variant", "pyramid_ar", "--preset", "cpu", "--steps", "2", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert 'preset="smoke"' in err and 'preset="cpu"' in err
    other = model_for_preset(SMOKE.replace(model="small"), num_classes=4)
    with pytest.raises(ValueError, match="model_config"):
        train(TrainConfig(variant="pyramid_ar", steps=2, batch_size=2), SMOKE, model=other, run=RunConfig(out=run))
    (tmp_path / "file.pt").write_bytes(b"x")
    assert main(["train", "--preset", "smoke", "--out", str(tmp_path / "file.pt")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["train", "--preset", "smoke", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sigint_leaves_a_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "pfbench.train", "--preset", "smoke", "--steps", "100000",
                             "--checkpoint-every", "100000", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ((run / "log.csv").exists() and len(_steps(run)) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    steps = _steps(run)
    assert load_payload(run / "last.pt")["step"] == steps[-1] and steps == list(range(1, len(steps) + 1))
    assert "the same command resumes" in out


def test_guidance_without_label_and_conflicting_flags_are_errors(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--steps", "1", "--out", str(run)]) == 0
    gif = str(tmp_path / "x.gif")
    assert main(["sample", "--checkpoint", str(run), "--guidance", "5", "--out", gif]) == 2
    assert "--guidance 5 needs --label" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run), "--preset", "cpu", "--out", gif]) == 2
    assert "conflicts with checkpoint" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run), "--variant", "full_sequence", "--out", gif]) == 2
    assert "trained as pyramid_ar" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run), "--label", "9", "--out", gif]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(run), "--ema", "--label", "1", "--out", gif]) == 0


def test_run_killed_before_its_first_checkpoint_is_still_checked(tmp_path):
    run = tmp_path / "run"
    train(CFG.__class__(**{**CFG.__dict__, "steps": 1}), SMOKE, run=RunConfig(out=run))
    for f in [run / "last.pt", *list_checkpoints(run)]:
        f.unlink()  # as if killed before the first checkpoint: config.json and log rows only
    with pytest.raises(ValueError, match=r"config.json holds a run with variant=\"spatial_pyramid\""):
        train(TrainConfig(variant="full_sequence", steps=1, batch_size=2, dataset_size=8), SMOKE, run=RunConfig(out=run))
    again = train(CFG.__class__(**{**CFG.__dict__, "steps": 2}), SMOKE, run=RunConfig(out=run))
    assert again.resumed_from == 0 and _steps(run) == [1, 2]
