"""kill -9 at three moments (after a step, inside a checkpoint write, right after a checkpoint), then the same
command: every step logged once, final weights, EMA and optimizer bit-identical to an uninterrupted run."""
import os
import subprocess
import sys

import pytest
import torch

from pfbench.train.checkpoint import KILL_ENV, load_payload
from pfbench.train.rundir import read_log

ARGS = ["--variant", "pyramid_ar", "--preset", "smoke", "--steps", "12", "--batch-size", "4", "--checkpoint-every",
        "3", "--keep", "2", "--deterministic"]


def _train(out, kill=None):
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill:
        env[KILL_ENV] = kill
    return subprocess.run([sys.executable, "-m", "pfbench.train", *ARGS, "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)


def _same_tensors(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.slow
def test_kill_minus_9_three_times_then_resume_is_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert _train(ref).returncode == 0
    # 1: killed after step 4 was logged (last checkpoint: step 3)
    p = _train(run, "step:4")
    assert p.returncode == -9 and load_payload(run / "last.pt")["step"] == 3
    # 2: resumed at 3, killed inside its 2nd checkpoint write (step 9): a torn last.pt.tmp, last.pt = step 6
    p = _train(run, "checkpoint:2")
    assert p.returncode == -9 and (run / "last.pt.tmp").exists() and load_payload(run / "last.pt")["step"] == 6
    # 3: resumed at 6, killed right after the step-9 checkpoint was complete
    p = _train(run, "saved:9")
    assert p.returncode == -9 and load_payload(run / "last.pt")["step"] == 9
    p = _train(run)
    assert p.returncode == 0, p.stderr
    assert "resumed" in p.stdout and "from step 9" in p.stdout
    steps = [int(r["step"]) for r in read_log(run / "log.csv") if r["kind"] == "train"]
    assert steps == list(range(1, 13))
    ref_rows, run_rows = read_log(ref / "log.csv"), read_log(run / "log.csv")
    assert [r["loss"] for r in ref_rows] == [r["loss"] for r in run_rows]  # the full-precision loss curve
    a, b = load_payload(ref / "last.pt"), load_payload(run / "last.pt")
    for key in ("state_dict", "ema", "optimizer", "scheduler", "data"):
        assert _same_tensors(a[key], b[key]), key
