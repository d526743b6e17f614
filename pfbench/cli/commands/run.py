"""`pfbench run`: run the suites into a new run folder, collect the tidy table, write the report."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pfbench.cli.args import device, existing_dir, existing_file, existing_path_str, positive_float, seed
from pfbench.core.config import DEFAULT_PRESET, OVERRIDE_ENV, PRESETS, env_overrides, resolve_run_config
from pfbench.core.config_keys import key_help
from pfbench.core.errors import EXIT_FAILED, EXIT_INTERRUPTED
from pfbench.runner import catalog, execute, folder


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run the benchmark suites and write results + report",
        description="Run the suites (each a pytest subprocess) into reports/<run-id>/, then write results.parquet, "
                    "results.csv, report.md and report.html. A run folder is never overwritten. A run is described "
                    "by one TOML config: a built-in preset (--preset) or your file (--config), then environment "
                    "flags, --data and --set in that order; the resolved config is stored in config.json.",
        epilog="config keys (`pfbench config show NAME` prints a commented file; env flags are read when a run "
               "starts):\n" + key_help(),
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help=f"a built-in config (default: {DEFAULT_PRESET}; smoke takes about 2 minutes on 2 cores)")
    p.add_argument("--config", type=existing_file, default=None, metavar="FILE",
                   help="your TOML config (start from `pfbench config show cpu`; base = \"NAME\" inherits a preset)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set data.frames=16 --set model.factory=pkg.mod:fn "
                        "(repeatable; TOML values)")
    p.add_argument("--data", action="append", default=[], type=existing_path_str, metavar="DIR",
                   help="train and evaluate on your videos (a folder, searched recursively, or a file; repeatable): "
                        "sets data.sources")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved config's estimate (parameters, FLOPs and memory per step, minutes) and "
                        "plan (suites, steps, models trained); run and write nothing")
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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The key list in the epilog kept one key a line (each option states its own default)."""


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    if args.resume is not None:
        spec, todo = _resume_spec(args)
    else:
        spec, inputs = _new_spec(args)
        todo = list(spec.suites)
        folder.write_run_files(spec, {k: v for k, v in vars(args).items() if k != "func"})
        if inputs.rows():
            from pfbench.results.rows import append_rows

            append_rows(spec.run_dir, "data", inputs.rows())
            (spec.run_dir / "logs").mkdir(exist_ok=True)
            (spec.run_dir / "logs" / "data.log").write_text("\n".join(inputs.lines()) + "\n", encoding="utf-8")
    print(f"pfbench run {spec.run_id}: preset {spec.preset.name}, device {spec.device}, dtype {spec.dtype}, "
          f"{len(todo)} suite(s) -> {spec.run_dir}", flush=True)
    if spec.overrides:
        _echo("overrides (recorded in config.json): " + ", ".join(
            f"{k}={v:g} from ${OVERRIDE_ENV[k]}" for k, v in spec.overrides.items()))
    if spec.config_sources.get("file") or spec.config_sources.get("set") or spec.config_sources.get("data"):
        src = spec.config_sources
        _echo("config: " + "; ".join(x for x in (
            f"file {src['file']}" if src.get("file") else "", " ".join(f"--set {t}" for t in src.get("set", [])),
            " ".join(f"--data {d}" for d in src.get("data", []))) if x) + " (resolved config in config.json)")
    todo = _skip_pixel_suites(spec, todo)
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


def _resolve(args: argparse.Namespace):
    """The validated config of a new run, its inputs checked (data readable, model factory importable) before
    anything is written."""
    from pfbench.experiments.inputs import check_run_inputs

    resolved = resolve_run_config(args.preset, args.config, tuple(args.set), tuple(args.data), os.environ)
    return resolved, check_run_inputs(resolved.preset)


def _dry_run(args: argparse.Namespace) -> int:
    from pfbench.experiments.estimate import format_estimate, run_estimate

    if args.resume is not None:
        raise ValueError("--dry-run describes a new run: drop --resume")
    resolved, inputs = _resolve(args)
    suites = catalog.parse_suites(args.suites)
    print(format_estimate(run_estimate(resolved.preset, suites, params=inputs.factory_params), inputs))
    return 0


def _new_spec(args: argparse.Namespace) -> tuple[folder.RunSpec, object]:
    resolved, inputs = _resolve(args)
    preset, overrides = resolved.preset, resolved.overrides
    suites = catalog.parse_suites(args.suites)
    dev = args.device or _preset_device(preset)
    suites_dir = args.suites_dir or catalog.default_suites_dir()
    catalog.check_suite_files(suites_dir, suites)
    _check_fits(preset, suites, dev, inputs.factory_params)
    for line in inputs.lines():
        _echo(line)
    run_id = folder.new_run_id(preset.name)
    run_dir = folder.claim_run_dir(args.out, run_id)
    return folder.RunSpec(run_dir=run_dir, run_id=run_id, preset=preset, suites=suites, device=dev, seed=args.seed,
                          suites_dir=suites_dir, timeout_s=args.timeout_s, profile=args.profile,
                          overrides=overrides, config_sources=resolved.sources), inputs


def _skip_pixel_suites(spec: folder.RunSpec, todo: list[str]) -> list[str]:
    """With data.latents (no decoder), the suites whose metrics need pixels are recorded as skipped with the reason."""
    from pfbench.experiments.inputs import PIXEL_SUITES
    from pfbench.results.schema import utc_now_iso

    if not spec.preset.data_latents:
        return todo
    reason = (f"needs decoded pixels, and data.latents ({spec.preset.data_latents}) comes without a decoder: "
              f"run it on videos (data.sources) instead")
    for suite in [s for s in todo if s in PIXEL_SUITES]:
        (spec.run_dir / "logs").mkdir(exist_ok=True)
        (spec.run_dir / "logs" / f"{suite}.log").write_text(f"skipped: {reason}\n", encoding="utf-8")
        now = utc_now_iso()
        folder.SuiteStatus(suite, "skipped", None, 0.0, now, now, f"logs/{suite}.log", reason).write(spec.run_dir)
        _echo(f"{suite}: skipped ({reason})")
    return [s for s in todo if s not in PIXEL_SUITES]


def _check_fits(preset, suites, dev: str, params: int | None = None) -> None:
    """Refuse, at start, a config this machine cannot run, with the estimate that says why."""
    from pfbench.experiments.estimate import fits_machine, format_estimate, run_estimate

    estimate = run_estimate(preset, suites, params=params)
    problem = fits_machine(estimate, dev)
    if problem:
        raise ValueError(f"{problem}; `pfbench run --dry-run` prints the whole estimate: "
                         + format_estimate(estimate).replace("\n", " | "))


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
    if args.preset or args.device or args.config or args.set or args.data:
        raise ValueError("--resume continues a run with its own config and device (config.json): drop "
                         "--preset/--config/--set/--data/--device, or start a new run without --resume")
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
