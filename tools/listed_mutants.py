"""The mutants of the sampler issue's audit (#15), each applied to a scratch clone and judged by its tests.

    python tools/listed_mutants.py            # clone HEAD to a temporary folder, apply each mutant, run its tests
    python tools/listed_mutants.py --keep DIR

Prints one line per mutant: killed (a test failed) or SURVIVED, and exits 1 if any survived or no longer applies
(the code moved: update the pattern). Not part of CI: about a minute per ten mutants on 2 cores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

# (name, file, text, mutated text, test files)
SAMPLER_TESTS = ["tests/test_samplers_oracle.py", "tests/test_known_answers_core.py"]
MUTANTS = [
    ("Euler step sign flipped", "reference_model/samplers.py",
     "x = x + (u1 - u0) * velocity(x, t)", "x = x - (u1 - u0) * velocity(x, t)", SAMPLER_TESTS),
    ("CFG mix v_cond + w (v_cond - v_null)", "reference_model/samplers.py",
     "return v_null + guidance * (v_cond - v_null)", "return v_cond + guidance * (v_cond - v_null)", SAMPLER_TESTS),
    ("velocity target reversed", "reference_model/pyramid.py",
     "return x_end - x_start", "return x_start - x_end", SAMPLER_TESTS),
    ("sampler feeds local time", "reference_model/samplers.py",
     "t_model = a + u0 * (b - a)", "t_model = u0", SAMPLER_TESTS),
    ("loss feeds local time", "reference_model/objectives.py",
     "t_model = model_time(t_local[idx], k, windows, time_conditioning)", "t_model = t_local[idx]", SAMPLER_TESTS),
    ("sampler feeds global time under the stage remap", "reference_model/samplers.py",
     "return model_time_segments(windows) if time_conditioning == \"stage\" else list(windows)",
     "return list(windows)", SAMPLER_TESTS),
    ("AR loss feeds global time under the stage remap", "reference_model/objectives.py",
     "t_global.append(model_time(t_local[b:b + 1], k, windows, time_conditioning))",
     "t_global.append(model_time(t_local[b:b + 1], k, windows, \"global\"))", SAMPLER_TESTS),
    ("stage segments in the wrong order (finest first)", "reference_model/pyramid.py",
     "for k in range(len(windows) - 1, -1, -1):  # coarsest first", "for k in range(len(windows)):", SAMPLER_TESTS),
    ("ablation jump without the variance top-up", "reference_model/pyramid.py",
     "return up + noise_scale * upsample(z, 2)", "return up", ["tests/test_pyramid.py"]),
    ("frame 1 gets the first frame's steps (sampler)", "reference_model/samplers.py",
     "steps = steps_first_frame if i == 0 else", "steps = steps_first_frame if i <= 1 else", SAMPLER_TESTS),
    ("frame 1 gets the first frame's steps (accounting)", "pfbench/accounting/shapes.py",
     "(schedule.steps_first_frame if i == 0 else", "(schedule.steps_first_frame if i <= 1 else", SAMPLER_TESTS),
    ("frame 1 gets the first frame's steps (closed-form AR counts)", "pfbench/accounting/flops.py",
     "forwards += first * min(1, T) + later * max(0, T - 1)", "forwards += first * min(2, T) + later * max(0, T - 2)",
     SAMPLER_TESTS),
    ("frame 1 gets the first frame's steps (layouts)", "reference_model/variants.py",
     "steps = schedule.steps_first_frame if i == 0 else", "steps = schedule.steps_first_frame if i <= 1 else",
     SAMPLER_TESTS),
    ("one extra step per stage", "reference_model/samplers.py",
     "torch.linspace(0.0, 1.0, steps + 1)", "torch.linspace(0.0, 1.0, steps + 2)", SAMPLER_TESTS),
    ("global_batch dropped from plan_flops", "pfbench/accounting/plan.py",
     "phase.steps * phase.global_batch * counts", "phase.steps * counts", SAMPLER_TESTS),
    ("subject consistency without its first-frame term", "pfbench/metrics/vbench/dimensions.py",
     "+ (cur @ self.first).clamp(min=0)) / 2", "+ (prevs * cur).sum(-1).clamp(min=0)) / 2",
     ["tests/test_metrics_known_answers.py"]),
    ("clip_temp against frame 0", "pfbench/metrics/vbench/dimensions.py",
     "(seq[:-1] * seq[1:]).sum(-1)", "(seq[:1] * seq[1:]).sum(-1)", ["tests/test_metrics_known_answers.py"]),
    ("warping-error mask inverted", "pfbench/metrics/vbench/dimensions.py",
     "valid = lhs <= rhs", "valid = lhs > rhs", ["tests/test_metrics_known_answers.py"]),
    ("dynamic degree count threshold doubled", "pfbench/metrics/vbench/dimensions.py",
     "count_num = round(4 * self.kept / 16.0)", "count_num = round(8 * self.kept / 16.0)",
     ["tests/test_metrics_known_answers.py"]),
    ("aesthetic without / 10", "pfbench/metrics/vbench/dimensions.py",
     ".float().cpu() / 10.0", ".float().cpu()", ["tests/test_metrics_known_answers.py"]),
    ("imaging quality without / 100", "pfbench/metrics/vbench/scoring.py",
     "return float(values.mean() / 100.0)", "return float(values.mean())", ["tests/test_metrics_known_answers.py"]),
    ("history corruption without (1 - sigma)", "reference_model/temporal.py",
     "+ (1 - sigma) * h", "+ h", SAMPLER_TESTS),
    ("Stats IQR replaced by q3", "pfbench/measure/timing.py",
     "iqr_s=(q3 - q1)", "iqr_s=q3", SAMPLER_TESTS),
    ("Stats median replaced by mean", "pfbench/measure/timing.py",
     "median_s=statistics.median(samples_s)", "median_s=statistics.fmean(samples_s)", SAMPLER_TESTS),
]


def judge(clone: Path, name: str, file: str, text: str, mutated: str, tests: list[str]) -> str:
    path = clone / file
    source = path.read_text(encoding="utf-8")
    if source.count(text) < 1:
        return "NO LONGER APPLIES"
    path.write_text(source.replace(text, mutated), encoding="utf-8")
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                              cwd=clone, capture_output=True, text=True, env={"PYTHONPATH": str(clone),
                                                                              "PATH": "/usr/bin:/bin"})
    finally:
        path.write_text(source, encoding="utf-8")
    return "killed" if proc.returncode != 0 else "SURVIVED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="clone into this folder (default: a temporary one)")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pfbench-listed-mutants-"))
    clone = folder / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    bad = 0
    for name, file, text, mutated, tests in MUTANTS:
        verdict = judge(clone, name, file, text, mutated, tests)
        bad += verdict != "killed"
        print(f"{verdict:>17}  {name}  ({file})", flush=True)
    print(f"{len(MUTANTS) - bad} of {len(MUTANTS)} listed mutants killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
