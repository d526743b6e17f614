"""One test per case of bad input: bad input gets a named one-line error, nothing is lost, exit codes are honest."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pfbench.cli.main import main
from pfbench.core.video_write import write_video
from pfbench.runner import catalog

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


def one_line_error(capsys, *needles: str) -> str:
    """The captured stderr holds exactly one error line, no traceback, and it contains every needle."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    errors = [ln for ln in lines if ": error: " in ln]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def clip(path: Path, frames: int) -> Path:
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), fps=8)
    return path


# 1. ------------------------------------------------------------------------------------------ overwrites
def test_1_outputs_are_never_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "existing.png"
    out.write_bytes(b"precious")
    assert main(["sample", "--frames", "1", "--out", str(out)]) == 2
    one_line_error(capsys, "--out", "already exists", "--force")
    assert out.read_bytes() == b"precious"
    assert main(["sample", "--frames", "1", "--out", str(out), "--force"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind

    videos = tmp_path / "videos"
    clip(videos / "a.mp4", 6)
    sibling = tmp_path / "res.csv"
    sibling.write_text("the user's own table")
    assert main(["eval-videos", str(videos), "--out", str(sibling), "--no-progress"]) == 2
    one_line_error(capsys, "--out", ".json")
    assert main(["eval-videos", str(videos), "--out", str(tmp_path / "res.json"), "--no-progress"]) == 2
    one_line_error(capsys, "res.csv", "already exists")
    assert sibling.read_text() == "the user's own table" and not (tmp_path / "res.json").exists()
    folder = tmp_path / "out.json"
    folder.mkdir()
    start = time.perf_counter()
    assert main(["eval-videos", str(videos), "--out", str(folder), "--no-progress"]) == 2
    one_line_error(capsys, "is a folder")
    assert time.perf_counter() - start < 5  # refused before any computing


# 2. ------------------------------------------------------------------------------------ report never shrinks
def tiny_run(path: Path, suites=("alpha", "beta"), rows: int = 5) -> Path:
    from pfbench.results.rows import append_rows

    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"run_id": path.name, "preset": {"name": "smoke"}, "device": "cpu",
                                                  "dtype": "float32"}))
    for suite in suites:
        append_rows(path, suite, [dict(case="c", variant="v", metric=f"m{i}_s", value=float(i), unit="s")
                                  for i in range(rows)])
    return path


def test_2_report_refuses_to_shrink_results_unless_forced(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    assert len(pd.read_parquet(run / "results.parquet")) == 10
    capsys.readouterr()
    (run / "rows" / "alpha.jsonl").write_text("")          # rows emptied
    assert main(["report", str(run)]) == 2
    one_line_error(capsys, "hold 5 rows", "has 10", "NOT rewritten", "--force")
    assert len(pd.read_parquet(run / "results.parquet")) == 10 and len(pd.read_csv(run / "results.csv")) == 10
    shutil.rmtree(run / "rows")                            # every raw file gone: the stored table is kept
    assert main(["report", str(run)]) == 0
    assert len(pd.read_parquet(run / "results.parquet")) == 10
    tiny_run(tmp_path / "other", suites=("beta",))
    shutil.copytree(tmp_path / "other" / "rows", run / "rows")
    assert main(["report", str(run), "--force"]) == 0      # asked for: shrinks, and says so
    assert "shrunk" in capsys.readouterr().err
    assert set(pd.read_parquet(run / "results.parquet")["suite"]) == {"beta"}


# 3. -------------------------------------------------------------------------- compare: lost rows, other context
def test_3_compare_fails_on_missing_rows_and_warns_on_context(tmp_path, capsys):
    b = tmp_path / "b"
    shutil.copytree(FIXTURE, b)
    (b / "rows" / "memory.jsonl").unlink()
    assert main(["compare", str(FIXTURE), str(b)]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    line = one_line_error_text(captured.err)
    assert "missing" in line and "memory" in line
    # the advice says what is true: B's memory suite passed, its rows file is gone
    assert "row(s) of suite memory missing from B: suite memory passed in B but did not emit the row" in captured.err
    c = tmp_path / "c"
    shutil.copytree(FIXTURE, c)
    config = json.loads((c / "config.json").read_text())
    config["preset"]["name"] = "smoke"
    (c / "config.json").write_text(json.dumps(config))
    assert main(["compare", str(FIXTURE), str(c)]) == 0
    err = capsys.readouterr().err
    assert "warning: presets differ (A: cpu; B: smoke)" in err
    csv = tmp_path / "cmp.csv"
    csv.write_text("mine")
    assert main(["compare", str(FIXTURE), str(c), "--csv", str(csv)]) == 2
    assert csv.read_text() == "mine"


def one_line_error_text(err: str) -> str:
    errors = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


# 4. --------------------------------------------------------------------- a timed-out run can be resumed
SLOW = '''
import time

def test_slow():
    time.sleep(4)
'''
CONFTEST = '''
def pytest_addoption(parser):
    for name in ("--pf-config", "--pf-preset", "--pf-device", "--pf-run-dir"):
        parser.addoption(name, default=None)
'''


def fake_suites(tmp_path: Path, **files: str) -> Path:
    suites = tmp_path / "repo" / "suites"
    suites.mkdir(parents=True)
    (suites / "conftest.py").write_text(CONFTEST)
    for suite, text in files.items():
        (suites / catalog.SUITE_FILES[suite]).write_text(text)
    return suites


def test_4_resume_takes_a_new_timeout_and_suite_choice(tmp_path, capsys):
    suites = fake_suites(tmp_path, tokens=SLOW, memory="def test_ok():\n    pass\n")
    run = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--suites", "tokens", "--out", str(run), "--suites-dir", str(suites),
                 "--timeout-s", "1", "--no-report"]) == 1
    assert "timed out after 1 s" in json.loads((run / "status" / "tokens.json").read_text())["note"]
    one_line_error(capsys, "tokens error")
    assert main(["run", "--resume", str(run), "--timeout-s", "120", "--suites", "tokens,memory", "--no-report"]) == 0
    assert json.loads((run / "status" / "tokens.json").read_text())["status"] == "passed"
    assert json.loads((run / "status" / "memory.json").read_text())["status"] == "passed"
    config = json.loads((run / "config.json").read_text())
    assert config["timeout_s"] == 120 and config["suites"] == ["tokens", "memory"] and len(config["resumes"]) == 1


# 5. ---------------------------------------------------------------------- nonsense is refused, not replaced
@pytest.mark.parametrize("argv, needle", [
    (["tokens", "--resolution", "0x0"], "argument --resolution"),
    (["tokens", "--resolution", "700x500"], "divisible by 64"),
    (["tokens", "--preset", "smoke", "--seconds", "5"], "--seconds"),
    (["train", "--steps", "0", "--out", "RUN"], "argument --steps"),
    (["train", "--steps", "-5", "--out", "RUN"], "argument --steps"),
    (["train", "--batch-size", "0", "--out", "RUN"], "argument --batch-size"),
    (["sample", "--frames", "0", "--out", "RUN.mp4"], "argument --frames"),
    (["eval-videos", "VIDEOS", "--fps", "-2", "--out", "RUN.json"], "argument --fps"),
    (["run", "--timeout-s", "0"], "argument --timeout-s"),
    (["run", "--seed", "-1"], "argument --seed"),
    (["compare", "FIXTURE", "FIXTURE", "--fail-above", "nan"], "threshold"),
])
def test_5_nonsense_is_refused_with_the_argument_named(tmp_path, capsys, argv, needle):
    (tmp_path / "videos").mkdir()
    argv = [a.replace("RUN", str(tmp_path / "run")).replace("VIDEOS", str(tmp_path / "videos"))
            .replace("FIXTURE", str(FIXTURE)) for a in argv]
    assert main(argv) == 2
    one_line_error(capsys, needle)
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob("run*"))


def test_5_train_resume_refuses_another_variant(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--steps", "1", "--out", str(out)]) == 0
    before = (out / "last.pt").read_bytes()
    assert main(["train", "--preset", "smoke", "--steps", "2", "--variant", "full_sequence", "--resume",
                 "--out", str(out)]) == 2
    one_line_error(capsys, "variant")
    assert (out / "last.pt").read_bytes() == before


def test_5_fid_fps_must_be_positive(tmp_path, capsys):
    for name in ("real", "fake"):
        clip(tmp_path / name / "a.mp4", 4)
    assert main(["fid", str(tmp_path / "real"), str(tmp_path / "fake"), "--fps", "-2"]) == 2
    one_line_error(capsys, "--fps")


# 6. ---------------------------------------------------------------------------- no exit 0 after doing nothing
def test_6_run_with_a_missing_suites_dir_is_an_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--suites-dir", str(tmp_path / "missing"), "--out", str(out)]) == 2
    one_line_error(capsys, "--suites-dir", "no such folder")
    assert not out.exists()
    suites = fake_suites(tmp_path, tokens="def test_ok():\n    pass\n")
    assert main(["run", "--preset", "smoke", "--suites", "tokens,memory", "--suites-dir", str(suites),
                 "--out", str(out)]) == 2
    one_line_error(capsys, "lacks test_memory.py")
    assert not out.exists()


def test_6_a_suite_that_skips_everything_fails_the_run(tmp_path, capsys):
    suites = fake_suites(tmp_path, tokens="import pytest\n\ndef test_x():\n    pytest.skip('no GPU')\n")
    assert main(["run", "--preset", "smoke", "--suites", "tokens", "--suites-dir", str(suites),
                 "--out", str(tmp_path / "run"), "--no-report"]) == 1
    one_line_error(capsys, "tokens skipped")


@NO_CUDA
def test_6_run_on_a_device_this_machine_lacks_is_an_error(tmp_path, capsys):
    assert main(["run", "--preset", "smoke", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    one_line_error(capsys, "--device", "CUDA is not available")
    assert main(["run", "--preset", "gpu", "--out", str(tmp_path / "run")]) == 2
    one_line_error(capsys, "--preset gpu runs on cuda")
    assert not (tmp_path / "run").exists()


def test_6_eval_videos_that_scored_nothing_exits_non_zero(tmp_path, capsys):
    clip(tmp_path / "v" / "one.mp4", 1)
    out = tmp_path / "r.json"
    assert main(["eval-videos", str(tmp_path / "v"), "--dimensions", "temporal_flickering", "dynamic_degree",
                 "--out", str(out), "--no-progress"]) == 1
    one_line_error(capsys, "temporal_flickering error", "needs at least 2 frames")
    assert out.exists()  # the records (with their reasons) are still written
    assert main(["eval-videos", str(tmp_path / "v"), "--weights-dir", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "s.json")]) == 2
    one_line_error(capsys, "--weights-dir", "no such folder")


# 7. ------------------------------------------------------------------------------ messages, not tracebacks
@pytest.mark.parametrize("argv, needle", [
    (["tokens", "--resolution", "384p", "--seconds", "inf"], "argument --seconds"),
    (["tokens", "--resolution", "384p", "--patch-size", "0"], "argument --patch-size"),
    (["tokens", "--resolution", "384p", "--vae-spatial", "0"], "argument --vae-spatial"),
    (["sample", "--label", "99", "--out", "RUN.mp4"], "--label"),
    (["train", "--batch-size", "-3", "--out", "RUN"], "argument --batch-size"),
    (["train", "--lr", "1e9", "--out", "RUN"], "argument --lr"),
    (["env", "--dtype", "int7"], "argument --dtype"),
])
def test_7_errors_are_one_line_without_traceback(tmp_path, capsys, argv, needle):
    argv = [a.replace("RUN", str(tmp_path / "run")) for a in argv]
    assert main(argv) == 2
    one_line_error(capsys, needle)


@NO_CUDA
@pytest.mark.parametrize("command", [["env"], ["sample", "--out", "x.mp4"], ["train", "--out", "r"],
                                     ["eval-videos", ".", "--out", "x.json"], ["run"]])
def test_7_cuda_without_cuda_is_one_line(capsys, command):
    assert main([*command, "--device", "cuda"]) == 2
    one_line_error(capsys, "--device", "CUDA is not available")


def test_7_ctrl_c_and_bugs_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from pfbench.cli.commands import env

    def interrupted(args):
        raise KeyboardInterrupt

    def buggy(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(env, "run", interrupted)
    assert main(["env"]) == 130
    assert "interrupted (Ctrl-C)" in capsys.readouterr().err
    monkeypatch.setattr(env, "run", buggy)
    assert main(["env"]) == 1
    one_line_error(capsys, "internal error ZeroDivisionError", "--debug")
    with pytest.raises(ZeroDivisionError):
        main(["env", "--debug"])


def test_7_ctrl_c_in_train_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch, capsys):
    import os
    import signal

    from pfbench.train import loop

    def ctrl_c_after_step_2(point, count):
        if point == "step" and count == 2:
            os.kill(os.getpid(), signal.SIGINT)   # what Ctrl-C in the terminal sends

    monkeypatch.setattr(loop, "_kill_hook", ctrl_c_after_step_2)
    out = tmp_path / "run"
    assert main(["train", "--preset", "smoke", "--steps", "50", "--checkpoint-every", "100", "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "interrupted" in captured.out
    from pfbench.train.rundir import read_log
    steps = [int(r["step"]) for r in read_log(out / "log.csv") if r.get("kind") == "train"]
    assert (out / "last.pt").exists() and max(steps) < 50
    assert main(["train", "--preset", "smoke", "--steps", "4", "--out", str(out)]) == 0  # the same command resumes
    assert f"resumed {out} from step" in capsys.readouterr().out


# 8. --------------------------------------------------------------------------------- sizes cannot blow up
def test_8_huge_durations_answer_at_once_and_counted_refuses(capsys):
    start = time.perf_counter()
    assert main(["tokens", "--resolution", "384p", "--seconds", "100000", "--no-counted", "--json"]) == 0
    assert time.perf_counter() - start < 5
    report = json.loads(capsys.readouterr().out)
    assert report["latent_frames"] == 300_001
    assert report["variants"]["full_sequence"]["max_tokens"] == 300_001 * 960
    assert main(["tokens", "--resolution", "384p", "--seconds", "100000"]) == 2
    one_line_error(capsys, "counted layouts are limited to", "--no-counted")
