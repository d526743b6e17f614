"""A property test of the whole CLI: generated arguments for every command end in exit 0 with valid
output, or a non-zero exit with a one-line `pfbench CMD: error: ...` message; never a traceback, never a changed
pre-existing file.

Values mix the edge cases a person types (0, negatives, NaN, inf, huge, words, sizes) with paths that exist (files,
folders, a run, a video folder), do not exist, or already hold someone's file. Each example runs in a fresh sandbox
folder; commands run in-process (pfbench.cli.main) on the smoke preset with tiny inputs, so the whole test takes
seconds once the packages are imported.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfbench.cli.main import main
from pfbench.runner import catalog

NUMBERS = ["0", "-1", "1", "2", "3", "0.0", "-2.5", "0.5", "nan", "inf", "-inf", "1e308", str(10 ** 30), "",
           "abc", "64x64", "0x0", "-64x64", "1x1", "3x3x3"]
# sandbox-relative paths; "NEW*" become fresh names, the rest exist before the command runs
PATHS = ["file.txt", "file.png", "clip.gif", "file.json", "res.csv", "folder", "empty", "run", "videos", "missing/deep/x",
         "NEW.png", "NEW.mp4", "NEW.json", "NEW.csv", "NEW"]
VALUE = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(PATHS))

# (command, fixed arguments, {flag: values it draws from}); "$" marks a positional slot
SPECS = {
    "tokens": (["--no-counted", "--json"], ["--preset", "--resolution", "--seconds", "--fps", "--stages",
                                           "--vae-spatial", "--vae-temporal", "--patch-size", "--stage-mix",
                                           "--model"]),
    "flops": (["--no-counted", "--json"], ["--preset", "--resolution", "--seconds", "--stages", "--patch-size",
                                          "--arch", "--video", "--steps"]),
    "env": ([], ["--device", "--dtype"]),
    "sample": (["--preset", "smoke"], ["--frames", "--seed", "--fps", "--label", "--guidance", "--variant",
                                       "--device", "--out"]),
    "train": (["--preset", "smoke", "--checkpoint-every", "1"], ["--steps", "--batch-size", "--lr", "--seed",
                                                                  "--label-dropout", "--out"]),
    "report": (["$"], ["--compare", "--fail-above"]),
    "compare": (["$", "$"], ["--fail-above", "--csv"]),
    "run": (["--preset", "smoke", "--no-report", "--suites", "tokens", "--suites-dir", "suites"], ["--suites", "--timeout-s", "--seed",
                                                                             "--device", "--out", "--resume"]),
    "eval-videos": (["$", "--dimensions", "temporal_flickering", "--no-progress"],
                    ["--fps", "--chunk-size", "--batch-size", "--weights-dir", "--out"]),
    "fid": (["$", "$", "--extractor", "pfbench-randconv-s0", "--json"],
            ["--fps", "--max-frames-per-video", "--batch-size", "--resamples", "--kid-subsets", "--seed"]),
    "fvd": (["$", "$", "--json"], ["--frames", "--stride", "--fps", "--i3d-weights", "--resamples"]),
}
# values that make a flag valid (drawn half of the time, so that valid runs happen, not only refusals)
GOOD = {"--variant": ["pyramid_ar", "full_sequence", "nope"], "--preset": ["smoke", "cpu", "nope"],
        "--model": ["tiny", "nope"], "--arch": ["ltx-video-2b", "nope"], "--dtype": ["float32", "bfloat16"],
        "--suites": ["tokens", "tokens,nope", "all"], "--device": ["cpu", "cuda", "cuda:7", "tpu"],
        "--resolution": ["384p", "128x128", "64x64"], "--seconds": ["1", "0.5"], "--fps": ["8", "2"],
        "--stages": ["1", "2", "3"], "--patch-size": ["1", "2"], "--vae-spatial": ["8", "16"],
        "--vae-temporal": ["4", "8"], "--stage-mix": ["1:2:1", "uniform"], "--video": ["17x256x256"],
        "--steps": ["1", "2"], "--frames": ["1", "2"], "--seed": ["0", "7"], "--label": ["0"],
        "--guidance": ["1", "1.5"], "--out": ["NEW.mp4", "NEW.gif", "NEW.png", "NEW.json", "NEW"],
        "--batch-size": ["1", "2"], "--lr": ["0.001"], "--label-dropout": ["0.1"], "--compare": ["run"],
        "--fail-above": ["5%", "0.1"], "--csv": ["NEW.csv"], "--timeout-s": ["60"], "--resume": ["run"],
        "--chunk-size": ["4"], "--weights-dir": ["empty"], "--max-frames-per-video": ["2"], "--resamples": ["0", "3"],
        "--kid-subsets": ["2"], "--stride": ["4"], "--i3d-weights": ["file.txt"]}
TAKEN = ["file.png", "clip.gif", "file.json", "res.csv", "folder", "run"]  # outputs someone already has: must stay untouched
GOOD_FOR = {("eval-videos", "--out"): ["NEW.json"] * 3 + ["res.json", "file.json", "folder"],
            ("train", "--out"): ["NEW"] * 3 + TAKEN, ("sample", "--out"): ["NEW.mp4", "NEW.gif"] * 2 + TAKEN,
            ("run", "--out"): ["NEW"] * 3 + TAKEN, ("compare", "--csv"): ["NEW.csv"] * 3 + TAKEN}
POSITIONAL = ["videos", "run", "folder", "empty", "file.txt", "missing/deep/x", "abc"]
GOOD_POSITIONAL = {"report": "run", "compare": "run", "eval-videos": "videos", "fid": "videos", "fvd": "videos"}
REQUIRED = {"sample": "--out", "train": "--out", "eval-videos": "--out"}
EXAMPLES = {"tokens": 40, "flops": 30, "env": 10, "report": 10, "compare": 15, "sample": 12, "train": 6, "run": 6,
            "eval-videos": 8, "fid": 8, "fvd": 8}
SUITE = "def test_ok():\n    pass\n"
CONFTEST = ("def pytest_addoption(parser):\n    for name in ('--pf-preset', '--pf-device', '--pf-run-dir'):\n"
            "        parser.addoption(name, default=None)\n")


def tiny_run(path: Path) -> None:
    """A run folder with a few rows (the report of the full fixture takes seconds of plotting)."""
    from pfbench.results.rows import append_rows

    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"run_id": "tiny", "preset": {"name": "smoke"}, "device": "cpu",
                                                  "dtype": "float32"}))
    append_rows(path, "tokens", [dict(case="c", variant="pyramid_ar", metric=f"m{i}_tokens", value=float(i),
                                      unit="tokens", backend="analytic") for i in range(4)])


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The files every example starts from (copied into a fresh sandbox per example)."""
    from pfbench.core.video_write import write_video

    root = tmp_path_factory.mktemp("cli-template")
    (root / "file.txt").write_text("someone's notes")
    (root / "file.png").write_bytes(b"\x89PNG not really")
    (root / "file.json").write_text('{"mine": true}')
    (root / "clip.gif").write_bytes(b"GIF89a someone's clip")
    (root / "res.csv").write_text("a,b\n1,2\n")   # the sibling `eval-videos --out res.json` would write
    (root / "folder").mkdir()
    (root / "folder" / "keep.txt").write_text("keep me")
    (root / "empty").mkdir()
    tiny_run(root / "run")
    frames = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    write_video(root / "videos" / "a.mp4", frames, fps=8)
    suites = root / "suites"
    suites.mkdir()
    (suites / "conftest.py").write_text(CONFTEST)
    (suites / catalog.SUITE_FILES["tokens"]).write_text(SUITE)
    return root


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def build_argv(command: str, data, sandbox: Path) -> list[str]:
    fixed, flags = SPECS[command]
    counter = iter(range(1000))

    def resolve(value: str) -> str:
        if value.startswith("NEW"):
            return str(sandbox / f"new{next(counter)}{value[3:]}")
        return str(sandbox / value) if value in PATHS else value

    argv = [command]
    for arg in fixed:
        if arg == "$":
            good = data.draw(st.integers(0, 2))
            argv.append(resolve(GOOD_POSITIONAL[command] if good else data.draw(st.sampled_from(POSITIONAL))))
        else:
            argv.append(resolve(arg) if arg in ("suites",) else arg)
    if argv[-1] == "suites":
        argv[-1] = str(sandbox / "suites")
    chosen = data.draw(st.lists(st.sampled_from(flags), max_size=4, unique=True))
    if command in REQUIRED and REQUIRED[command] not in chosen:
        chosen.append(REQUIRED[command])
    for flag in chosen:
        good = GOOD_FOR.get((command, flag), GOOD.get(flag))
        value = data.draw(st.sampled_from(good) if good and data.draw(st.integers(0, 2)) else VALUE)  # 2/3 good
        if flag == "--resume" and command == "run":
            argv += [flag, resolve(value)] if value in PATHS else [flag]
            continue
        argv += [flag, resolve(value)]
    return argv


def check(command: str, argv: list[str], sandbox: Path, before: dict[str, str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    stdout, stderr = out.getvalue(), err.getvalue()
    context = f"{argv}\nexit {code}\nstdout: {stdout[-2000:]}\nstderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr, context
    assert isinstance(code, int) and code in (0, 1, 2, 3, 130), context
    if code == 0:
        if "--json" in argv:
            json.loads(stdout, parse_constant=lambda c: pytest.fail(f"{c} in --json output\n{context}"))
    else:
        errors = [ln for ln in stderr.splitlines() if re.match(r"pfbench( [a-z-]+)?: error: ", ln)]
        assert errors, f"non-zero exit without a `pfbench ...: error:` line\n{context}"
        if code == 2:
            assert len(errors) == 1, context
    after = snapshot(sandbox)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"pre-existing files changed or removed: {changed}\n{context}"
    intruders = sorted(p.name for p in (sandbox / "folder").iterdir() if p.name != "keep.txt")
    assert not intruders, f"wrote into someone's non-empty folder: {intruders}\n{context}"


def _property(command: str):
    @settings(max_examples=EXAMPLES[command], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def prop(template, data):
        sandbox = Path(tempfile.mkdtemp(prefix="pfbench-cli-"))
        try:
            shutil.copytree(template, sandbox, dirs_exist_ok=True)
            before = snapshot(sandbox)
            argv = build_argv(command, data, sandbox)
            with contextlib.chdir(sandbox):  # relative outputs (--out 0, reports/) land in the sandbox
                check(command, argv, sandbox, before)
        finally:
            shutil.rmtree(sandbox, ignore_errors=True)

    return prop


@pytest.mark.parametrize("command", list(SPECS))
def test_cli_property(command, template):
    _property(command)(template)
