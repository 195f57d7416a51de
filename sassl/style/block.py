"""The SASSL block (Algorithm 1 of Rojas-Gomez et al.), batched and driven by sampled parameters.

Per sample: with probability p, blend the content's style statistics with a style's (alpha), decode
the AdaIN-normalised content features, and interpolate the decoded image with the input in pixel
space (beta). Parameters are sampled first as tensors (:func:`sample_sassl_params`) and applied
second (:func:`apply_sassl`), so a view can be replayed exactly and the same numbers can feed
augmentation-aware methods. Content features and style statistics may be precomputed (a bank):
then no encoder runs here, only the decoder, and only on the samples that are stylised.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from sassl.style.adain import adain, blend_stats, style_stats

Range = tuple[float, float]


@dataclass
class SASSLParams:
    """Drawn per sample: whether the style is applied, alpha, beta, and which style (an index)."""

    applied: torch.Tensor  # (B,) bool
    alpha: torch.Tensor  # (B,) float
    beta: torch.Tensor  # (B,) float
    style_index: torch.Tensor  # (B,) long: a batch index (in-batch styles) or a style-bank row

    def to(self, device: torch.device | str) -> "SASSLParams":
        return SASSLParams(*(getattr(self, f.name).to(device) for f in fields(self)))

    def as_matrix(self) -> torch.Tensor:
        """(B, 3) float [applied, alpha * applied, beta * applied] for AugSelf/CASSLE."""
        on = self.applied.float()
        return torch.stack([on, self.alpha * on, self.beta * on], dim=1)


def in_batch_styles(batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each sample, the index of another sample of the batch (never itself when B > 1).

    Samples are put on one random cycle and each takes the style of its successor: a derangement
    that is uniform over cycle orders and cheap to draw.
    """
    if batch_size == 1:
        return torch.zeros(1, dtype=torch.long)
    order = torch.randperm(batch_size, generator=generator)
    succ = torch.empty_like(order)
    succ[order] = order.roll(-1)
    return succ


def sample_sassl_params(
    batch_size: int,
    generator: torch.Generator | None = None,
    p: float = 0.8,
    alpha: Range = (0.1, 0.3),
    beta: Range = (0.1, 0.3),
    num_styles: int | None = None,
) -> SASSLParams:
    """Draw SASSL parameters on the CPU (so they are seedable and device independent).

    ``num_styles=None`` pairs samples within the batch; otherwise style indices are uniform over
    ``range(num_styles)`` (rows of an external style bank).
    """
    for name, (lo, hi) in (("alpha", alpha), ("beta", beta)):
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"{name} range must satisfy 0 <= min <= max <= 1, got {(lo, hi)}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    applied = torch.rand(batch_size, generator=generator) < p
    a = alpha[0] + (alpha[1] - alpha[0]) * torch.rand(batch_size, generator=generator)
    b = beta[0] + (beta[1] - beta[0]) * torch.rand(batch_size, generator=generator)
    if num_styles is None:
        idx = in_batch_styles(batch_size, generator)
    else:
        idx = torch.randint(num_styles, (batch_size,), generator=generator)
    return SASSLParams(applied, a, b, idx)


def apply_sassl(
    images: torch.Tensor,
    content_feats: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    params: SASSLParams,
    decoder: nn.Module,
) -> torch.Tensor:
    """Stylise the samples with ``params.applied``; the others come back unchanged.

    ``images``: (B, 3, H, W) in [0, 1]. ``content_feats``: (B, 512, h, w) relu4_1 features of exactly
    these pixels (e.g. the crop of precomputed features). ``style_mean``/``style_std``: (B, 512), the
    style statistics already gathered for each sample. The decoded image is resized to (H, W) when
    8h != H, and clamped to [0, 1].
    """
    out = images.clone()
    sel = params.applied.to(images.device).nonzero().flatten()
    if sel.numel() == 0:
        return out
    feats = content_feats[sel]
    content = style_stats(feats)
    target = blend_stats(content, (style_mean[sel].float(), style_std[sel].float()), params.alpha.to(images.device)[sel])
    decoded = decoder(adain(feats, *target).to(next(decoder.parameters()).dtype))
    if decoded.shape[-2:] != images.shape[-2:]:
        decoded = F.interpolate(decoded.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
    decoded = decoded.clamp(0, 1).to(images.dtype)
    b = params.beta.to(images.device)[sel].to(images.dtype)[:, None, None, None]
    out[sel] = (1 - b) * images[sel] + b * decoded
    return out


class SASSL(nn.Module):
    """SASSL as a module: samples parameters, finds content features and styles, applies.

    With an ``encoder`` it works from pixels alone (``--style online``); without one the caller
    passes precomputed ``content_feats``. Styles come from the batch unless ``style_bank`` (a pair of
    (N, 512) mean/std tensors) is given.
    """

    def __init__(
        self,
        decoder: nn.Module,
        encoder: nn.Module | None = None,
        p: float = 0.8,
        alpha: Range = (0.1, 0.3),
        beta: Range = (0.1, 0.3),
    ) -> None:
        super().__init__()
        self.decoder = decoder.requires_grad_(False).eval()
        self.encoder = encoder
        self.p, self.alpha, self.beta = p, alpha, beta

    @torch.no_grad()
    def forward(
        self,
        images: torch.Tensor,
        content_feats: torch.Tensor | None = None,
        style_bank: tuple[torch.Tensor, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
        params: SASSLParams | None = None,
    ) -> tuple[torch.Tensor, SASSLParams]:
        if content_feats is None:
            if self.encoder is None:
                raise ValueError("SASSL without an encoder needs precomputed content_feats")
            content_feats = self.encoder(images)
        if params is None:
            n = None if style_bank is None else style_bank[0].shape[0]
            params = sample_sassl_params(images.shape[0], generator, self.p, self.alpha, self.beta, n)
        idx = params.style_index.to(images.device)
        if style_bank is None:
            mean, std = style_stats(content_feats)
            s_mean, s_std = mean[idx], std[idx]
        else:
            s_mean, s_std = style_bank[0].to(images.device)[idx], style_bank[1].to(images.device)[idx]
        return apply_sassl(images, content_feats, s_mean, s_std, params, self.decoder), params
