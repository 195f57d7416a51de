"""CASSLE (Przewiezlikowski et al. 2023): the projector conditioned on each view's augmentation.

Each view's absolute descriptor (columns of its parameter record, :func:`sassl.train.record.descriptor`)
goes through a small MLP whose output is concatenated to the backbone feature before the projector
(:class:`sassl.train.heads.Projector`). The authors' default descriptor is 13-d: crop 4, colour 4,
colour_diff 3, blur 1, grayscale 1 (gmum/CASSLE); flip and, here, SASSL's style are optional.
"""

from __future__ import annotations

from torch import nn

from sassl.choices import CASSLE_DEFAULT_GROUPS, CASSLE_GROUPS
from sassl.train.record import GROUPS

DEFAULT_GROUPS = CASSLE_DEFAULT_GROUPS  # the names live in sassl.choices (read by the CLI without torch)
WIDTH, DEPTH = 64, 6


def parse_cassle(spec: str, style: bool) -> tuple[str, ...]:
    """``crop,color,...`` -> the groups, validated (``style`` only when the views carry a style)."""
    groups = tuple(g.strip() for g in spec.split(",") if g.strip())
    if not groups:
        raise ValueError("--cassle needs at least one group, e.g. " + ",".join(DEFAULT_GROUPS))
    for g in groups:
        if g not in CASSLE_GROUPS:
            raise ValueError(f"--cassle: unknown group {g!r}; expected some of {', '.join(CASSLE_GROUPS)}")
    if len(set(groups)) != len(groups):
        raise ValueError(f"--cassle: a group is named twice in {spec!r}")
    if "style" in groups and not style:
        raise ValueError("--cassle style: the views carry no style with --style none")
    return groups


def descriptor_width(groups: tuple[str, ...]) -> int:
    return sum(GROUPS[g][1] for g in groups)


def conditioning_net(in_dim: int, width: int = WIDTH, depth: int = DEPTH) -> nn.Sequential:
    """(depth - 1) x (Linear without bias, BN, ReLU), then Linear + BN: the authors' 6 x 64 network."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth - 1):
        mods += [nn.Linear(dim, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        dim = width
    mods += [nn.Linear(dim, width), nn.BatchNorm1d(width)]
    return nn.Sequential(*mods)
