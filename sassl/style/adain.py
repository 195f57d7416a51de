"""Style statistics and adaptive instance normalisation (Huang & Belongie 2017).

The style of a feature map is its per-channel mean and standard deviation over space. AdaIN is linear
in the target statistics, so SASSL's blend of statistics ((1 - alpha) z_c + alpha z_s) equals the
reference port's feature blend alpha * AdaIN(f_c, f_s) + (1 - alpha) * f_c.
"""

from __future__ import annotations

import torch

EPS = 1e-5


def style_stats(feats: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) of (B, C, H, W) features, each (B, C); std = sqrt(unbiased var + eps)."""
    flat = feats.flatten(2).float()
    return flat.mean(-1), (flat.var(-1, unbiased=True) + eps).sqrt()


def adain(
    content: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = EPS
) -> torch.Tensor:
    """Give ``content`` (B, C, H, W) the target per-channel ``mean`` and ``std`` (B, C)."""
    c_mean, c_std = style_stats(content, eps)
    normalised = (content.float() - c_mean[..., None, None]) / c_std[..., None, None]
    return (normalised * std[..., None, None] + mean[..., None, None]).to(content.dtype)


def blend_stats(
    content: tuple[torch.Tensor, torch.Tensor],
    style: tuple[torch.Tensor, torch.Tensor],
    alpha: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(1 - alpha) * content + alpha * style for mean and std; ``alpha`` is (B,)."""
    a = alpha.to(content[0].dtype)[:, None]
    return (1 - a) * content[0] + a * style[0], (1 - a) * content[1] + a * style[1]
