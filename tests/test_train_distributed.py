"""torchrun with 2 gloo processes: the same loss curve as 1 process at the same global batch; a rank killed
mid-run leaves a checkpoint the next launch (with another process count) resumes from; FSDP2 likewise."""
import pytest

from pfbench.cli.commands.train import torchrun_command
from pfbench.cli.main import main
from pfbench.core.config import get_preset
from pfbench.train.checkpoint import KILL_ENV, load_payload
from pfbench.train.loop import RunConfig, TrainConfig, train
from pfbench.train.rundir import read_log

ARGS = ["--variant", "pyramid_ar", "--preset", "smoke", "--steps", "8", "--batch-size", "4", "--checkpoint-every",
        "2", "--label-dropout", "0.25"]


def _reference_losses(tmp_path):
    cfg = TrainConfig(variant="pyramid_ar", steps=8, batch_size=4, label_dropout=0.25, seed=0,
                      stage_mix="1:2:1", dataset_size=64)
    return train(cfg, get_preset("smoke"), run=RunConfig(out=tmp_path / "ref", checkpoint_every=2)).losses


def _losses(run):
    rows = [r for r in read_log(run / "log.csv") if r["kind"] == "train"]
    assert [int(r["step"]) for r in rows] == list(range(1, len(rows) + 1))  # every step once
    return [float(r["loss"]) for r in rows]


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_and_survive_a_killed_rank(tmp_path, monkeypatch):
    ref = _reference_losses(tmp_path)
    run = tmp_path / "ddp"
    monkeypatch.setenv(KILL_ENV, "rank1-step:5")  # rank 1 is SIGKILLed after step 5 (checkpoint: step 4)
    assert main(["train", *ARGS, "--nproc", "2", "--out", str(run)]) != 0
    assert load_payload(run / "last.pt")["step"] == 4 and load_payload(run / "last.pt")["world_size"] == 2
    monkeypatch.delenv(KILL_ENV)
    assert main(["train", *ARGS, "--nproc", "1", "--out", str(run)]) == 0  # another N, same global batch
    assert _losses(run) == pytest.approx(ref, abs=1e-5)


@pytest.mark.slow
def test_fsdp2_on_gloo_matches_and_resumes_in_one_process(tmp_path):
    ref = _reference_losses(tmp_path)
    run = tmp_path / "fsdp"
    short = [a if a != "8" else "4" for a in ARGS]
    assert main(["train", *short, "--nproc", "2", "--parallel", "fsdp2", "--out", str(run)]) == 0
    assert main(["train", *ARGS, "--out", str(run)]) == 0
    assert _losses(run) == pytest.approx(ref, abs=1e-5)


def test_torchrun_command_forwards_arguments():
    import argparse

    from pfbench.cli.commands.train import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--out", "R", "--deterministic", "--batch-size", "8", "--parallel", "fsdp2"])
    cmd = torchrun_command(args, 4)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=4"]
    assert cmd[5:7] == ["-m", "pfbench.train"]
    tail = " ".join(cmd[7:])
    assert "--out R" in tail and "--batch-size 8" in tail and "--deterministic" in tail and "--parallel fsdp2" in tail


def test_batch_must_split_over_processes():
    from pfbench.core.distributed import DistContext

    cfg = TrainConfig(variant="pyramid_ar", steps=1, batch_size=3)
    with pytest.raises(ValueError, match="multiple of stream_chunk"):
        train(cfg, get_preset("smoke"), ctx=DistContext(rank=0, world_size=2))
