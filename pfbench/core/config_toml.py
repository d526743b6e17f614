"""Run configs as TOML: read a file (or a built-in preset file), apply ``--set key=value`` and environment flags,
validate every key against :mod:`pfbench.core.config_keys`, and write a commented file back.

A config is flat dotted keys in memory (``{"memory.budget_gib": 1.0, ...}``) between the TOML text and the frozen
``Preset``: a file may start from a built-in preset (``base = "cpu"``) and set only what differs. Every error is one
line naming the file or option, the key, the value and what is allowed.
"""
from __future__ import annotations

import difflib
import math
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

from pfbench.core.config_keys import BY_NAME, DERIVED_FROM_VIDEO, ENV_KEYS, KEYS, SECTIONS, Key

KINDS = {"int": "a whole number", "float": "a number", "str": "a string", "bool": "true or false",
         "ints": "a list of whole numbers", "floats": "a list of numbers", "strs": "a list of strings"}
REQUIRED = ("name", "model.backbone", "data.channels", "data.frames", "data.height", "data.width")
BASE_KEY = "base"


def read_toml(path: Path) -> dict:
    """The TOML table of ``path``; a file that is not TOML is a ValueError naming its line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; a config is a TOML file (`pfbench config show cpu` "
                         f"prints one)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:  # its message ends "(at line L, column C)"
        raise ValueError(f"{path}: not valid TOML: {err}; fix that line (`pfbench config show cpu` prints a valid "
                         f"file)") from None


def nearest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"did you mean {' or '.join(close)}?" if close else "`pfbench config keys` lists every key"


def flatten(table: dict, where: str) -> dict:
    """{dotted key: value} of a parsed TOML table; an unknown key or section names the nearest known ones."""
    out = {}
    for top, value in table.items():
        if isinstance(value, dict):
            if top not in SECTIONS:
                raise ValueError(f"{where}: unknown section [{top}]; {nearest(top, SECTIONS)}")
            for sub, inner in value.items():
                name = f"{top}.{sub}"
                if name not in BY_NAME:
                    raise ValueError(f"{where}: unknown key {name}; {nearest(name, BY_NAME)}")
                out[name] = inner
        elif top == BASE_KEY or top in BY_NAME:
            out[top] = value
        else:
            raise ValueError(f"{where}: unknown key {top}; {nearest(top, [*BY_NAME, *SECTIONS, BASE_KEY])}")
    return out


def check_value(key: Key, value, where: str):
    """The value in the Preset's form (tuple for a list, None for ``key.empty``), or a ValueError naming the key,
    the value and what is allowed."""
    shown = f"{where}: {key.name} = {_toml(value) if _is_plain(value) else repr(value)}"
    kind = key.kind
    scalar = kind.rstrip("s") if kind in ("ints", "floats", "strs") else kind
    items = value if kind != scalar else [value]
    if kind != scalar and not isinstance(value, list):
        raise ValueError(f"{shown}: expected {KINDS[kind]}, e.g. {key.name} = [1, 2]")
    for item in items:
        ok = {"int": isinstance(item, int) and not isinstance(item, bool),
              "float": isinstance(item, (int, float)) and not isinstance(item, bool),
              "str": isinstance(item, str), "bool": isinstance(item, bool)}[scalar]
        if not ok:
            raise ValueError(f"{shown}: expected {KINDS[kind]} ({key.doc})")
        if scalar == "float" and not math.isfinite(item):
            raise ValueError(f"{shown}: expected a finite number")
    value = [float(v) for v in items] if scalar == "float" else list(items)
    value = value if kind != scalar else value[0]
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ValueError(f"{shown}: {problem} ({key.doc})")
    if key.empty is not ... and value == key.empty:
        return None
    return tuple(value) if isinstance(value, list) else value


def parse_set(text: str) -> tuple[str, object]:
    """``--set dotted.key=value``: the value is read as TOML (1, 2.5, true, [2, 2, 2], "x"); a bare word that is not
    TOML is a string, so ``--set model.factory=pkg.mod:fn`` needs no quotes."""
    name, sep, raw = str(text).partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--set {text!r}: expected KEY=VALUE, e.g. --set data.frames=16")
    if name not in BY_NAME:
        raise ValueError(f"--set {name}: unknown key; {nearest(name, BY_NAME)}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return name, value


def env_values(environ) -> dict:
    """{dotted key: value} of the environment flags that are set (each a config key); a bad value names the
    variable."""
    out = {}
    for var, key in ENV_KEYS.items():
        raw = (environ.get(var) or "").strip()
        if not raw:
            continue
        try:
            value = {"bool": lambda s: s.lower() not in ("0", "false", "no", "off"), "int": int,
                     "float": float}[key.kind](raw)
        except ValueError:
            value = None
        if value is None or key.check is not None and key.check(value):
            what = {"int": "positive whole number", "float": "positive number"}.get(key.kind, "value")
            raise ValueError(f"${var}={raw!r} is not a {what} (the config key {key.name}): set it to a valid "
                             f"value, or unset it and use --set {key.name}=...")
        out[key.name] = value
    return out


def flat_from_preset(preset) -> dict:
    """The preset as {dotted key: TOML value} (derived keys of a paper-size clip left out)."""
    out = {}
    for key in KEYS:
        if key.field.startswith("video."):
            if preset.video is not None:
                out[key.name] = getattr(preset.video, key.field.partition(".")[2])
            continue
        if preset.video is not None and key.name in DERIVED_FROM_VIDEO:
            continue
        value = getattr(preset, key.field)
        if value is None:
            value = key.empty
        out[key.name] = list(value) if isinstance(value, tuple) else value
    return out


def preset_from_flat(flat: dict, where: str):
    """The validated Preset of a flat config (every key checked; a paper-size clip derives the latent shape)."""
    from pfbench.core.preset import Preset, VideoSpec

    flat = {k: v for k, v in flat.items() if k != BASE_KEY}
    video_keys = [k for k in flat if k.startswith("video.")]
    if video_keys:
        clash = [k for k in DERIVED_FROM_VIDEO if k in flat]
        if clash:
            raise ValueError(f"{where}: {', '.join(clash)} follow from [video] (a paper-size clip); set video.* "
                             f"instead, or drop the [video] section to give the latent shape directly")
    missing = [k for k in REQUIRED if k not in flat and not (video_keys and k in DERIVED_FROM_VIDEO)]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}; set them, or start from a built-in preset "
                         f'with base = "cpu" (`pfbench config show cpu` prints every key)')
    fields, video = {}, {}
    for name, value in flat.items():
        key = BY_NAME[name]
        checked = check_value(key, value, where)
        if key.field.startswith("video."):
            video[key.field.partition(".")[2]] = checked
        else:
            fields[key.field] = checked
    if video_keys:
        spec = VideoSpec(**video)
        fields.update(video=spec, channels=spec.latent_channels, frames=spec.latent_frames,
                      height=spec.latent_height, width=spec.latent_width, patch_size=spec.patch_size)
    preset = Preset(**fields)
    check_consistent(preset, where)
    return preset


def check_consistent(preset, where: str) -> None:
    """Cross-key rules: one sampler step count and one mix share per pyramid stage; sides that patchify."""
    for name, values in (("sample.steps_first_frame", preset.steps_first_frame),
                         ("sample.steps_later_frames", preset.steps_later_frames),
                         ("pyramid.stage_mix", preset.stage_mix)):
        if len(values) != preset.stages:
            raise ValueError(f"{where}: {name} = {_toml(list(values))} has {len(values)} entries but pyramid.stages "
                             f"= {preset.stages}: give one per stage")
    unit = preset.patch_size * 2 ** (preset.stages - 1)
    sides = (("data.height", preset.height), ("data.width", preset.width), ("data.clip_height", preset.clip_height),
             ("data.clip_width", preset.clip_width))
    for name, side in sides:
        if side % unit:
            raise ValueError(f"{where}: {name} = {side} must be divisible by {unit} (patch {preset.patch_size} at "
                             f"{preset.stages} pyramid levels), e.g. {max(unit, round(side / unit) * unit)}")


def resolve(base_flat: dict | None, layers: list[tuple[str, dict]]):
    """The Preset of ``base_flat`` with each (where, flat) layer applied in turn; a value is checked in its layer so
    an error names the file, variable or option it came from."""
    merged = dict(base_flat or {})
    for where, flat in layers:
        for name, value in flat.items():
            if name != BASE_KEY:
                check_value(BY_NAME[name], value, where)
        merged.update(flat)
    return preset_from_flat(merged, layers[-1][0] if layers else "config")


def render(preset, header: str = "") -> str:
    """A commented TOML file of ``preset``: every key with its one-line doc, grouped by section."""
    flat = flat_from_preset(preset)
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    current = ""
    for key in KEYS:
        if key.name not in flat:
            continue
        if key.section != current:
            current = key.section
            lines += ["", f"[{current}]"]
        lines.append(f"# {key.doc}" + (f" (also ${key.env})" if key.env else ""))
        lines.append(f"{key.name.rpartition('.')[2]} = {_toml(flat[key.name])}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_plain(value) -> bool:
    return isinstance(value, (bool, int, float, str)) or isinstance(value, list) and all(map(_is_plain, value))


def _toml(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
