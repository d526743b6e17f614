"""`pfbench eval-videos` and `pfbench fid` end to end on a folder with good, corrupt and empty files."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pfbench.cli.main import main
from pfbench.core.video_write import write_video
from pfbench.metrics.fid.extractors import default_extractor


def _moving(t=8, h=64, w=96, step=3):
    import cv2

    rng = np.random.default_rng(0)
    bg = cv2.resize(rng.integers(0, 256, (9, 20, 3), dtype=np.uint8), (w + step * t, h), interpolation=cv2.INTER_CUBIC)
    return np.stack([bg[:, i * step:i * step + w] for i in range(t)])  # (T, H, W, 3)


@pytest.fixture()
def video_dir(tmp_path):
    d = tmp_path / "videos"
    write_video(d / "moving.mp4", _moving(), 8)
    write_video(d / "static.gif", np.repeat(_moving()[:1], 6, axis=0), 8)
    (d / "x.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    (d / "empty.avi").touch()
    return d


def test_eval_videos_scores_good_files_and_records_bad_ones(video_dir, tmp_path, capsys):
    out = tmp_path / "out" / "results.json"
    dims = ["temporal_flickering", "dynamic_degree", "subject_consistency"]
    rc = main(["eval-videos", str(video_dir), "--dimensions", *dims, "--out", str(out), "--no-progress"])
    assert rc == 3  # some files had errors
    results = json.loads(out.read_text())
    assert set(results) == set(dims)
    entries = {e["video_path"].split("/")[-1]: e for e in results["dynamic_degree"][1]}
    assert entries["x.mp4"]["status"] == "error" and "x.mp4" in entries["x.mp4"]["note"]
    assert entries["empty.avi"]["status"] == "error" and "empty" in entries["empty.avi"]["note"]
    assert entries["moving.mp4"]["video_results"] is True and entries["static.gif"]["video_results"] is False
    assert results["dynamic_degree"][0] == pytest.approx(0.5)
    assert entries["moving.mp4"]["fps"] == 8 and entries["moving.mp4"]["width"] == 96
    assert results["subject_consistency"][0] is None
    assert "--weights-dir" in {e["video_path"].split("/")[-1]: e for e in results["subject_consistency"][1]}[
        "moving.mp4"]["note"]
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == 4 * len(dims)
    assert {r["status"] for r in rows} == {"ok", "error", "skipped"}
    summary = json.loads((out.parent / "results_summary.json").read_text())
    assert summary["partial"] and len(summary["errors"]) == 2
    assert "x.mp4" in capsys.readouterr().err


def test_eval_videos_clean_folder_exits_zero(tmp_path):
    write_video(tmp_path / "v" / "a.mp4", _moving(), 8)
    rc = main(["eval-videos", str(tmp_path / "v"), "--dimensions", "offline", "--fps", "4",
               "--out", str(tmp_path / "r.json"), "--no-progress"])
    assert rc == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["motion_smoothness"][1][0]["fps"] == 4 and res["motion_smoothness"][1][0]["frames"] == 4


def test_eval_videos_user_errors_are_one_line(tmp_path, capsys):
    assert main(["eval-videos", str(tmp_path / "missing"), "--out", str(tmp_path / "r.json")]) == 2
    assert main(["eval-videos", str(tmp_path), "--dimensions", "nope", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "unknown dimension" in err


def test_fid_command_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("real", "fake"):
        for i in range(4):
            write_video(tmp_path / name / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    write_video(tmp_path / "fake" / "clip.gif", _moving(3, 32, 32), 8)
    rc = main(["fid", str(tmp_path / "real"), str(tmp_path / "fake"), "--json", "--bootstrap", "5",
               "--kid-subsets", "3"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["n_real"] == 4 and out["n_fake"] == 7
    assert out["extractor"] == default_extractor() and np.isfinite(out["fid"])  # efficientnet-lite0 when installed


def test_an_explicit_flow_request_that_cannot_load_is_a_named_error(tmp_path, capsys):
    bad = tmp_path / "raft.pth"
    bad.write_bytes(b"not a state dict")
    write_video(tmp_path / "v" / "a.gif", _moving(4, 32, 32), 8)
    rc = main(["eval-videos", str(tmp_path / "v"), "--dimensions", "dynamic_degree", "--flow", "raft-large",
               "--raft-weights", str(bad), "--out", str(tmp_path / "r.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "raft.pth" in err and not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("case", ["raft-without-weights", "unknown-backend", "torchvision-missing"])
def test_explicit_flow_requests_fail_by_name_and_write_nothing(tmp_path, capsys, monkeypatch, case):
    """An asked-for flow backend that cannot be built is exit 2 with one line naming the option (only the
    default backend may skip)."""
    import sys

    write_video(tmp_path / "v" / "a.gif", _moving(4, 32, 32), 8)
    flow = {"unknown-backend": "opencv-nope"}.get(case, "raft-large")
    extra = []
    if case == "torchvision-missing":
        raft = tmp_path / "raft.pth"
        raft.write_bytes(b"x")
        extra = ["--raft-weights", str(raft)]
        monkeypatch.setitem(sys.modules, "torchvision.models", None)  # import fails as if not installed
        monkeypatch.setitem(sys.modules, "torchvision.models.optical_flow", None)
    rc = main(["eval-videos", str(tmp_path / "v"), "--dimensions", "dynamic_degree", "--flow", flow, *extra,
               "--out", str(tmp_path / "r.json"), "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and flow in lines[0], lines
    assert {"raft-without-weights": "--raft-weights", "unknown-backend": "opencv-dis",
            "torchvision-missing": "torchvision"}[case] in lines[0], lines
    assert not (tmp_path / "r.json").exists()


def test_an_explicit_weights_folder_without_the_models_is_not_a_silent_skip(tmp_path, capsys):
    """--weights-dir given: a dimension it cannot serve is a failure (exit 1, one line naming it), not 'skipped'
    with exit 0; without --weights-dir the same dimension under 'all' is skipped with the reason."""
    write_video(tmp_path / "v" / "a.gif", _moving(4, 32, 32), 8)
    (tmp_path / "w").mkdir()
    rc = main(["eval-videos", str(tmp_path / "v"), "--dimensions", "temporal_flickering", "subject_consistency",
               "--weights-dir", str(tmp_path / "w"), "--out", str(tmp_path / "r.json"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "subject_consistency skipped" in err[0] and "--weights-dir" in err[0], err
    summary = json.loads((tmp_path / "r_summary.json").read_text())
    assert summary["dimensions"]["temporal_flickering"]["status"] == "ok"  # the others' results are kept
