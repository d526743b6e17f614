"""`pfbench run`: run the suites into a new run folder, collect the tidy table, write the report."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pfbench.cli.args import device, existing_dir, positive_float, seed
from pfbench.core.config import DEFAULT_PRESET, OVERRIDE_ENV, PRESETS, apply_overrides, env_overrides, get_preset
from pfbench.core.errors import EXIT_FAILED, EXIT_INTERRUPTED
from pfbench.runner import catalog, execute, folder


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run the benchmark suites and write results + report",
        description="Run the suites (each a pytest subprocess) into reports/<run-id>/, then write results.parquet, "
                    "results.csv, report.md and report.html. A run folder is never overwritten.",
    )
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help=f"shapes and budgets (default: {DEFAULT_PRESET}; smoke takes about a minute)")
    p.add_argument("--suites", default=None,
                   help=f"comma-separated subset of {','.join(catalog.SUITE_FILES)} (default: all); with --resume: "
                        "the suites to rerun unless passed")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: reports/<run-id> under the cwd)")
    p.add_argument("--resume", nargs="?", const="", default=None, metavar="RUN_DIR",
                   help="continue an earlier run: rerun only its suites that did not pass (RUN_DIR or --out)")
    p.add_argument("--device", default=None, type=device,
                   help="device passed to the suites (default: the preset's); must exist on this machine")
    p.add_argument("--seed", type=seed, default=0, help="base seed recorded in config.json and passed as PFBENCH_SEED (default 0)")
    p.add_argument("--timeout-s", type=positive_float, default=None,
                   help="per-suite time limit in seconds (default: none); with --resume it replaces the run's")
    p.add_argument("--suites-dir", type=existing_dir, default=None,
                   help=f"folder of suite files (default: ${catalog.SUITES_DIR_ENV} or the repo's suites/)")
    p.add_argument("--no-report", action="store_true", help="collect results but skip report.md/report.html")
    p.add_argument("--profile", action="store_true",
                   help="throughput suite: torch.profiler trace + table of where a training step's time goes "
                        "(RUN_DIR/profile/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        spec, todo = _resume_spec(args)
    else:
        spec = _new_spec(args)
        todo = list(spec.suites)
        folder.write_run_files(spec, {k: v for k, v in vars(args).items() if k != "func"})
    print(f"pfbench run {spec.run_id}: preset {spec.preset.name}, device {spec.device}, dtype {spec.dtype}, "
          f"{len(todo)} suite(s) -> {spec.run_dir}", flush=True)
    if spec.overrides:
        _echo("overrides (recorded in config.json): " + ", ".join(
            f"{k}={v:g} from ${OVERRIDE_ENV[k]}" for k, v in spec.overrides.items()))
    statuses, interrupted = execute.run_suites(spec, todo, echo=_echo)
    collected = execute.finish_run(spec.run_dir, echo=_echo, report=not args.no_report)
    if interrupted:
        _echo(f"interrupted: continue with `pfbench run --resume {spec.run_dir}`")
        return EXIT_INTERRUPTED
    bad = [s for s in statuses if s.status != "passed"]
    if bad:
        _echo(f"{len(bad)} suite(s) did not pass: {', '.join(s.suite for s in bad)} (see {spec.run_dir}/logs/); "
              f"rerun them with `pfbench run --resume {spec.run_dir}`")
        print("pfbench run: error: asked suite(s) did not pass: " + "; ".join(
            f"{s.suite} {s.status}" + (f" ({s.note[:120]})" if s.note else "") for s in bad), file=sys.stderr)
        return EXIT_FAILED
    if not collected:
        print(f"pfbench run: error: the suites passed but results/report of {spec.run_dir} could not be built "
              f"(see above); retry with `pfbench report {spec.run_dir}`", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _new_spec(args: argparse.Namespace) -> folder.RunSpec:
    overrides = env_overrides(os.environ)
    preset = apply_overrides(get_preset(args.preset or DEFAULT_PRESET), overrides)
    suites = catalog.parse_suites(args.suites)
    dev = args.device or _preset_device(preset)
    suites_dir = args.suites_dir or catalog.default_suites_dir()
    catalog.check_suite_files(suites_dir, suites)
    run_id = folder.new_run_id(preset.name)
    run_dir = folder.claim_run_dir(args.out, run_id)
    return folder.RunSpec(run_dir=run_dir, run_id=run_id, preset=preset, suites=suites, device=dev, seed=args.seed,
                          suites_dir=suites_dir, timeout_s=args.timeout_s, profile=args.profile,
                          overrides=overrides)


def _preset_device(preset) -> str:
    """The preset's device, refused (not silently replaced) when this machine lacks it."""
    try:
        return device(preset.device)
    except argparse.ArgumentTypeError as err:
        raise ValueError(f"--preset {preset.name} runs on {preset.device}, but {err}") from None


def _resume_spec(args: argparse.Namespace) -> tuple[folder.RunSpec, list[str]]:
    run_dir = Path(args.resume) if args.resume else args.out
    if run_dir is None:
        raise ValueError("--resume needs the run folder: `pfbench run --resume reports/<run-id>`")
    if args.preset or args.device:
        raise ValueError("--resume continues a run with its own preset and device (config.json): drop "
                         "--preset/--device, or start a new run without --resume")
    spec = folder.load_run_spec(run_dir, suites_dir=args.suites_dir)
    _check_stored_device(spec)
    _check_stored_overrides(spec)
    chosen = catalog.parse_suites(args.suites) if args.suites else spec.suites
    catalog.check_suite_files(spec.suites_dir, chosen)
    todo = folder.pending_suites(spec.run_dir, chosen)
    done = [s for s in chosen if s not in todo]
    if done:
        _echo(f"resume: skipping passed suite(s) {', '.join(done)}")
    spec = folder.record_resume(spec, suites=chosen, timeout_s=args.timeout_s, suites_dir=args.suites_dir)
    return spec, todo


def _check_stored_device(spec: folder.RunSpec) -> None:
    try:
        device(spec.device)
    except argparse.ArgumentTypeError as err:
        raise ValueError(f"--resume {spec.run_dir}: the run was started on {spec.device}, but {err}") from None


def _check_stored_overrides(spec: folder.RunSpec) -> None:
    """A resume measures with the run's stored values: an environment override that disagrees is refused."""
    for key, value in env_overrides(os.environ).items():
        stored = spec.overrides.get(key, getattr(spec.preset, key, None))
        if value != stored:
            was = "without it" if stored is None else f"with {key}={stored:g}"
            raise ValueError(f"--resume {spec.run_dir}: ${OVERRIDE_ENV[key]}={value:g} but the run was started {was} "
                             f"(config.json): unset ${OVERRIDE_ENV[key]} to continue the run, or start a new run "
                             f"without --resume")


def _echo(line: str) -> None:
    print(line, flush=True)
