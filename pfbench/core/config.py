"""Named presets and the resolution of a run's config: what a run measures, at which shapes, on which device.

Presets are data: one TOML file each in pfbench/core/presets/ (the only place their values live), read into the
frozen ``Preset`` (pfbench.core.preset). A preset names a backbone size from ``reference_model.dit.DIT_PRESETS``
and a latent video shape. The ``paper-*`` presets describe the paper's real video sizes for the shape-only suites
(token and FLOP accounting); they are never trained or sampled on a CPU. A run's config is a preset or a user's TOML
file, then environment flags, ``--data`` and ``--set`` (:func:`resolve_run_config`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pfbench.core.config_keys import BY_NAME, ENV_KEYS
from pfbench.core.preset import Preset, VideoSpec  # noqa: F401  (re-exported: the config's in-memory form)


RESOLUTIONS = {"384p": (640, 384), "768p": (1280, 768)}


def parse_resolution(text: str) -> tuple[int, int]:
    """'384p' | '768p' | 'WxH' -> (width, height)."""
    if text in RESOLUTIONS:
        return RESOLUTIONS[text]
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(
            f"unknown resolution {text!r}: use one of {sorted(RESOLUTIONS)} or WIDTHxHEIGHT, e.g. 1280x768"
        ) from err
    return w, h


PRESET_DIR = Path(__file__).resolve().parent / "presets"   # the built-in presets, one TOML file each


def load_config_file(path: Path, where: str | None = None) -> Preset:
    """The validated Preset of one TOML config file (``base = "NAME"`` starts from a built-in preset)."""
    from pfbench.core.config_toml import flat_from_preset, flatten, read_toml, resolve

    where = where or str(path)
    flat = flatten(read_toml(path), where)
    base = flat.get("base")
    if base is not None and not isinstance(base, str):
        raise ValueError(f"{where}: base = {base!r}: expected the name of a built-in preset ({', '.join(PRESETS)})")
    return resolve(flat_from_preset(get_preset(base)) if base else None, [(where, flat)])


def _builtin_presets() -> dict[str, Preset]:
    files = sorted(PRESET_DIR.glob("*.toml"))
    presets = {f.stem: load_config_file(f, f"built-in preset {f.name}") for f in files}
    order = ("smoke", "cpu", "gpu-smoke", "gpu", "paper-384p-5s", "paper-768p-5s", "paper-768p-10s")  # --help's
    return {**{k: presets[k] for k in order if k in presets}, **presets}


def _builtin_check(presets: dict[str, Preset]) -> dict[str, Preset]:
    for stem, preset in presets.items():
        if preset.name != stem:
            raise ValueError(f"built-in preset {stem}.toml says name = {preset.name!r}: the file name is the preset's")
    return presets


PRESETS: dict[str, Preset] = _builtin_check(_builtin_presets())  # read once at import; never changed
DEFAULT_PRESET = "cpu"


def get_preset(name: str) -> Preset:
    """Look a preset up by name; the error lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None


def preset_from_dict(d: dict) -> Preset:
    """A Preset from its ``to_dict()`` form (as stored in a run's config.json); unknown keys are refused."""
    d = dict(d)
    fields = {f.name for f in dataclasses.fields(Preset)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise ValueError(f"stored preset has unknown field(s) {', '.join(unknown)}: the run was written by another "
                         f"pfbench version; rerun it, or drop those keys from its config.json")
    if d.get("video"):
        d["video"] = VideoSpec(**d["video"])
    return Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# Environment flags, each also a config key (pfbench.core.config_keys, ``env=``): {Preset field: variable}.
# `pfbench run` reads them once, when the run starts, applies them to the resolved preset and records them in
# config.json ("overrides"); the suites read the stored config, so a resume, the report and the plots see the
# values the run was measured with.
OVERRIDE_ENV = {key.field: var for var, key in ENV_KEYS.items()}


def env_overrides(environ) -> dict:
    """{Preset field: value} from the environment flags set in ``environ``; a bad value is a ValueError naming it."""
    from pfbench.core.config_toml import env_values

    return {BY_NAME[name].field: value for name, value in env_values(environ).items()}


def apply_overrides(preset: Preset, overrides: dict) -> Preset:
    """The preset with the ``overrides`` ({Preset field: value}) applied."""
    fields = {f.name for f in dataclasses.fields(Preset)}
    changes = {k: v for k, v in overrides.items() if k in fields}
    return preset.replace(**changes) if changes else preset


@dataclass(frozen=True)
class ResolvedConfig:
    """A run's preset and where its values came from (stored in config.json)."""

    preset: Preset
    overrides: dict          # {Preset field: value} from environment flags
    sources: dict            # {"base": preset name or None, "file": path or None, "set": [...], "env": {var: raw}}


def resolve_run_config(preset_name: str | None = None, config_file: Path | None = None, sets: tuple[str, ...] = (),
                       data: tuple[str, ...] = (), environ=None) -> ResolvedConfig:
    """The validated preset of a run: a built-in preset or a TOML file, then the environment flags, then ``--data``
    folders (data.sources), then each ``--set key=value`` (later wins). Every value is checked where it comes from."""
    from pfbench.core.config_toml import env_values, flat_from_preset, flatten, parse_set, read_toml, resolve

    environ = {} if environ is None else environ
    if preset_name and config_file:
        raise ValueError("--preset and --config both name a starting point: pass one (a config file can start from "
                         'a preset with base = "NAME")')
    layers = []
    base_name = preset_name
    if config_file is not None:
        flat = flatten(read_toml(Path(config_file)), str(config_file))
        base_name = flat.get("base")
        if base_name is not None and base_name not in PRESETS:
            raise ValueError(f"{config_file}: base = {base_name!r} is not a built-in preset: choose one of "
                             f"{', '.join(PRESETS)}")
        layers.append((str(config_file), _absolute_sources(flat, Path(config_file).resolve().parent)))
    elif not base_name:
        base_name = DEFAULT_PRESET
    base_flat = flat_from_preset(get_preset(base_name)) if base_name else None
    env = env_values(environ)
    if env:
        layers.append(("environment (" + ", ".join(f"${BY_NAME[k].env}" for k in env) + ")", env))
    if data:
        layers.append(("--data", _absolute_sources({"data.sources": [str(d) for d in data]}, Path.cwd())))
    for text in sets:
        name, value = parse_set(text)
        layers.append((f"--set {name}", _absolute_sources({name: value}, Path.cwd())))
    preset = resolve(base_flat, layers) if layers else get_preset(base_name)
    overrides = {BY_NAME[k].field: getattr(preset, BY_NAME[k].field) for k in env}
    sources = {"base": base_name, "file": str(config_file) if config_file else None, "set": list(sets),
               "data": [str(d) for d in data], "env": {BY_NAME[k].env: environ.get(BY_NAME[k].env) for k in env}}
    return ResolvedConfig(preset, overrides, sources)


def _absolute_sources(flat: dict, folder: Path) -> dict:
    """``data.sources`` relative to ``folder`` (a config file's own folder, or the working directory for --data and
    --set): the suites run elsewhere."""
    sources = flat.get("data.sources")
    if isinstance(sources, list) and all(isinstance(s, str) for s in sources):
        flat = {**flat, "data.sources": [str((folder / Path(s).expanduser()).resolve()) for s in sources]}
    latents = flat.get("data.latents")
    if isinstance(latents, str) and latents:
        flat = {**flat, "data.latents": str((folder / Path(latents).expanduser()).resolve())}
    return flat


def suite_config(config_path: str | None, preset_name: str, environ) -> dict:
    """What a suite runs with: the run's stored config.json when ``config_path`` is given (``pfbench run`` passes
    it), else ``preset_name``'s preset with the environment overrides (a suite run by hand with pytest)."""
    if config_path:
        import json
        from pathlib import Path

        path = Path(config_path)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"--pf-config {path}: cannot read the run's config.json ({err}); point at a run "
                             f"folder's config.json or drop --pf-config (and $PFBENCH_CONFIG)") from None
        if not isinstance(config.get("preset"), dict):
            raise ValueError(f"--pf-config {path}: no resolved 'preset' in it; point at a config.json written by "
                             f"`pfbench run`")
        config.setdefault("overrides", {})
        # an older config.json kept some flags (ar_window) in "overrides" only: they are preset keys now
        config["preset"] = apply_overrides(preset_from_dict(config["preset"]), config["overrides"]).to_dict()
        return config
    overrides = env_overrides(environ)
    return {"preset": apply_overrides(get_preset(preset_name), overrides).to_dict(), "overrides": overrides}
