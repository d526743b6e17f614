"""Sharded evaluation under torchrun (2 gloo ranks): each video exactly once, the same scores as one process."""
import csv
import json
import os
import subprocess
import sys

import pytest

from pfbench.cli.main import main
from pfbench.core.distributed import shard_indices
from pfbench.core.video_write import write_video
from pfbench.data.procedural import ProceduralVideoConfig, ProceduralVideos, to_uint8_frames


@pytest.mark.parametrize("n, world", [(10, 2), (10, 3), (2, 4), (0, 2), (7, 1)])
def test_shards_cover_every_index_once(n, world):
    seen = [i for r in range(world) for i in shard_indices(n, r, world)]
    assert seen == list(range(n))


def _videos(folder, n=10, seed=0):
    folder.mkdir()
    ds = ProceduralVideos(ProceduralVideoConfig(num_clips=n, frames=6, height=32, width=32, seed=seed))
    for i in range(n):
        write_video(folder / f"v{i:02d}.gif", to_uint8_frames(ds[i][0]).numpy(), fps=8)
    return folder


def _torchrun(*argv):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "pfbench.cli", *argv], capture_output=True, text=True, timeout=600, env=env)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_eval_videos_over_two_ranks_equals_one_process(tmp_path):
    videos = _videos(tmp_path / "videos")
    args = ["eval-videos", str(videos), "--dimensions", "offline", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "one" / "r.json")]) == 0
    p = _torchrun(*args, "--out", str(tmp_path / "two" / "r.json"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "rank 0/2: scored 5 of 10 videos" in p.stderr and "rank 1/2: scored 5 of 10 videos" in p.stderr
    one, two = _rows(tmp_path / "one" / "r.csv"), _rows(tmp_path / "two" / "r.csv")
    dims = {r["dimension"] for r in one}
    assert len({r["video_path"] for r in two}) == 10 and len(two) == 10 * len(dims)  # 10 videos, no duplicates
    assert [(r["video_path"], r["dimension"]) for r in two] == [(r["video_path"], r["dimension"]) for r in one]
    for a, b in zip(one, two):
        assert (a["value"] == b["value"] == "") or float(a["value"]) == pytest.approx(float(b["value"]), abs=1e-9)
    s1 = json.loads((tmp_path / "one" / "r_summary.json").read_text())
    s2 = json.loads((tmp_path / "two" / "r_summary.json").read_text())
    assert s2["videos"] == 10 and s1["quality_score"] == pytest.approx(s2["quality_score"], abs=1e-9)


@pytest.mark.slow
def test_fid_features_over_two_ranks_equal_one_process(tmp_path, capsys):
    real, fake = _videos(tmp_path / "real", 10, 0), _videos(tmp_path / "fake", 10, 1)
    # sharding does not depend on the extractor: the cheap random-feature one keeps this test to seconds
    args = ["fid", str(real), str(fake), "--json", "--bootstrap", "0", "--kid-subsets", "10",
            "--extractor", "pfbench-randconv-s0"]
    assert main(args) == 0  # one process: this one (the ranks below are the command's real subprocesses)
    one = json.loads(capsys.readouterr().out)
    p2 = _torchrun(*args)
    assert p2.returncode == 0, p2.stderr[-2000:]
    two = json.loads(p2.stdout)  # rank 1 prints nothing: one JSON object
    assert one["n_real"] == two["n_real"] == 60 and one["n_fake"] == two["n_fake"]
    assert two["fid"] == pytest.approx(one["fid"], rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_sample_set_over_two_ranks_equals_one_process(tmp_path):
    from pfbench.core.video_read import read_video
    from pfbench.experiments.sample_set import main as sample_set

    args = ["--variant", "spatial_pyramid", "--preset", "smoke", "--count", "5", "--format", "gif"]
    assert sample_set([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                        "pfbench.experiments.sample_set", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                       timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = _rows(tmp_path / "two" / "samples.csv")
    assert [int(r["index"]) for r in rows] == list(range(5)) and {r["rank"] for r in rows} == {"0", "1"}
    for r in rows:
        a, b = read_video(tmp_path / "one" / r["file"])[0], read_video(tmp_path / "two" / r["file"])[0]
        assert (a == b).all()
    assert sample_set([*args, "--out", str(tmp_path / "one")]) == 2  # never overwritten
