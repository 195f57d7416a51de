"""The stylizers sassl knows, by name: one line each (see :mod:`sassl.style.stylizer`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sassl.choices import DEFAULT_STYLIZER, STYLIZER_NAMES  # noqa: F401  (DEFAULT_STYLIZER re-exported)

if TYPE_CHECKING:  # the registry itself stays importable without torch (the CLI reads its names)
    from sassl.style.stylizer import Stylizer, StylizerSpec

# name -> module with ``load(spec, parts) -> Stylizer``; imported only when that stylizer is used.
STYLIZERS: dict[str, str] = {
    "ghiasi": "sassl.style.ghiasi",
    "adain": "sassl.style.adain",
}
assert tuple(STYLIZERS) == STYLIZER_NAMES, "sassl.choices.STYLIZER_NAMES must list exactly the registry's stylizers"
PARTS = ("all", "encode", "render")


def load_stylizer(spec: "StylizerSpec", parts: str = "all") -> "Stylizer":
    """Load the stylizer ``spec.name`` names; ``parts`` is what the caller will use:

    ``"encode"`` (precompute: codes and stored content), ``"render"`` (training from a bank) or ``"all"``
    (online styles, previews). Raises :class:`WeightsError` with one line on any unusable weights.
    """
    from sassl.weights import WeightsError

    if spec.name not in STYLIZERS:
        raise WeightsError(f"unknown stylizer {spec.name!r}; expected one of {', '.join(STYLIZERS)}")
    if parts not in PARTS:
        raise ValueError(f"parts must be one of {PARTS}, got {parts!r}")
    return importlib.import_module(STYLIZERS[spec.name]).load(spec, parts)
