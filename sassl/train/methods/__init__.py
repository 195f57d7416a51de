"""The method registry: one :class:`MethodSpec` line per method (see ``spec.py`` for the contract).

Adding a method is one file (its options dataclass, class and ``SPEC``) plus one line in
``METHODS``; the CLI's ``--method`` choices, ``--method-opt`` validation, the trainer and the tests
all read this table.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from torch import nn

from sassl.choices import METHOD_NAMES
from sassl.train.methods import barlow, byol, moco, simclr, simsiam
from sassl.train.methods.spec import MethodSpec

METHODS: dict[str, MethodSpec] = {
    "simclr": simclr.SPEC,
    "moco": moco.SPEC,
    "byol": byol.SPEC,
    "simsiam": simsiam.SPEC,
    "barlow": barlow.SPEC,
}
if sorted(METHODS) != sorted(METHOD_NAMES):  # the CLI offers METHOD_NAMES without importing torch
    raise ImportError(f"sassl.choices.METHOD_NAMES {METHOD_NAMES} differ from the methods {sorted(METHODS)}")


def _spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; expected one of {sorted(METHODS)}")
    return METHODS[name]


def split_key_values(pairs: typing.Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` (repeatable ``--method-opt``) -> {k: v}; values are typed by :func:`method_options`."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--method-opt {pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _coerce(method: str, key: str, value: Any, kind: type) -> Any:
    if isinstance(value, str):
        try:
            if kind is bool:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            return kind(value)
        except ValueError:
            raise ValueError(f"--method-opt {key}={value!r}: {method} expects {kind.__name__}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"--method-opt {key}={value!r}: {method} expects {kind.__name__}")
    return value


def method_options(name: str, overrides: dict[str, Any]) -> Any:
    """The method's options dataclass with ``overrides`` applied (strings are parsed to the field's
    type); an unknown key or a bad value is one clear error naming the method's options."""
    spec = _spec(name)
    hints = typing.get_type_hints(spec.options)
    known = {f.name for f in dataclasses.fields(spec.options)}
    values = {}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"--method-opt {key}: {name} has no such option; its options are {', '.join(sorted(known))}")
        values[key] = _coerce(name, key, value, hints[key])
    opts = spec.options(**values)
    for key in known:
        v = getattr(opts, key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
            raise ValueError(f"--method-opt {key}={v}: must be > 0")
    return opts


def build_method(name: str, backbone: nn.Module, feat_dim: int, options: dict[str, Any] | None = None,
                 cond_dim: int = 0) -> nn.Module:
    """Instantiate a method by name (``options`` override its published defaults; ``cond_dim`` > 0
    conditions its projectors on a CASSLE descriptor of that width)."""
    spec = _spec(name)
    return spec.cls(backbone, feat_dim, method_options(name, options or {}), cond_dim)


__all__ = ["METHODS", "MethodSpec", "build_method", "method_options", "split_key_values"]
