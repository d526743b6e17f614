"""``model.factory = "package.module:function"``: the velocity model under test, built by the user's function.

The function is called as ``function(preset, num_classes=N, **options)`` and must return a torch.nn.Module that
implements the velocity protocol (reference_model/protocol.py: the call, its shapes and the time convention).
``options`` are the reference DiT's construction options a suite asks for (compile_blocks, length_buckets,
activation_checkpointing, zero_init); only those the function's signature accepts are passed, so a plain
``def build(preset, num_classes=0)`` works. The module is imported from the Python path (put its folder on
PYTHONPATH, or install it): pfbench imports what the config names and nothing else.
"""
from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path


def load_factory(spec: str):
    """The callable named by ``"package.module:function"``; a ValueError naming the key and the fix otherwise."""
    module_name, sep, attr = str(spec).partition(":")
    where = f"model.factory = {spec!r}"
    if not sep or not module_name or not attr:
        raise ValueError(f'{where}: expected "package.module:function"')
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or the module's own error while importing
        raise ValueError(f"{where}: cannot import {module_name} ({type(err).__name__}: {err}); put its folder on "
                         f"PYTHONPATH (now {':'.join(sys.path[:3])}...) or install it") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{where}: {module_name} has no function {attr!r} "
                         f"({Path(getattr(module, '__file__', '') or module_name).name})")
    return fn


def build_factory_model(spec: str, preset, num_classes: int = 0, **options):
    """The user's model for ``preset``, checked against the protocol and the preset's channels and patch size."""
    from reference_model.protocol import check_velocity_model

    fn = load_factory(spec)
    params = inspect.signature(fn).parameters.values()
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    names = {p.name for p in inspect.signature(fn).parameters.values()}
    kwargs = {k: v for k, v in {"num_classes": num_classes, **options}.items() if takes_all or k in names}
    where = f"model.factory = {spec!r}"
    try:
        model = fn(preset, **kwargs)
    except Exception as err:
        raise ValueError(f"{where}: the factory raised {type(err).__name__}: {err}") from None
    try:
        check_velocity_model(model, where)
    except TypeError as err:
        raise ValueError(str(err)) from None
    for name, want in (("in_channels", preset.channels), ("patch_size", preset.patch_size),
                       ("num_classes", num_classes)):
        got = getattr(model.cfg, name)
        if got != want:
            raise ValueError(f"{where}: the model has cfg.{name} = {got} but the run needs {want} (data.channels, "
                             f"model.patch_size, and the experiment's classes): build it from the preset given")
    return model
