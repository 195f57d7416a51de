"""The SASSL block (Algorithm 1 of Rojas-Gomez et al.), batched and driven by sampled parameters.

Per sample: with probability p, blend the content's style code with a style's (alpha), render the
content with the blended code, and interpolate the rendered image with the input in pixel space
(beta). Parameters are sampled first as tensors (:func:`sample_sassl_params`) and applied second
(:func:`apply_sassl`), so a view can be replayed exactly and the same numbers can feed
augmentation-aware methods. Content inputs and codes may be precomputed (a bank): then no encoder
runs here, only the renderer, and only on the samples that are stylised. Any
:class:`~sassl.style.stylizer.Stylizer` works.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from sassl.style.stylizer import Stylizer

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
    content: torch.Tensor,
    own_code: torch.Tensor,
    style_code: torch.Tensor,
    params: SASSLParams,
    stylizer: Stylizer,
) -> torch.Tensor:
    """Stylise the samples with ``params.applied``; the others come back unchanged.

    ``images``: (B, 3, H, W) in [0, 1]. ``content``: the stylizer's content input for exactly these
    pixels (AdaIN: the crop of precomputed relu4_1 features; Ghiasi: the pixels, possibly smaller).
    ``own_code`` / ``style_code``: each sample's own style code and the code of its style source,
    already gathered. The rendered image is resized to (H, W) when its size differs, and clamped to [0, 1].
    """
    out = images.clone()
    sel = params.applied.to(images.device).nonzero().flatten()
    if sel.numel() == 0:
        return out
    code = stylizer.blend(own_code[sel].float(), style_code[sel].float(), params.alpha.to(images.device)[sel])
    rendered = stylizer.render(content[sel], code)
    if rendered.shape[-2:] != images.shape[-2:]:
        rendered = F.interpolate(rendered.float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
    rendered = rendered.clamp(0, 1).to(images.dtype)
    b = params.beta.to(images.device)[sel].to(images.dtype)[:, None, None, None]
    out[sel] = (1 - b) * images[sel] + b * rendered
    return out


class SASSL(nn.Module):
    """SASSL as a module: samples parameters, finds content inputs and styles, applies.

    Without ``content`` it works from pixels alone (the stylizer encodes them: ``--style online``); with
    precomputed ``content`` (and ``codes``, the bank's codes of the same samples) no encoder runs. Styles
    come from the batch unless ``style_codes`` (an external style bank, (N, *code_shape)) is given.
    """

    def __init__(
        self,
        stylizer: Stylizer,
        p: float = 0.8,
        alpha: Range = (0.1, 0.3),
        beta: Range = (0.1, 0.3),
    ) -> None:
        super().__init__()
        self.stylizer = stylizer.eval()
        self.p, self.alpha, self.beta = p, alpha, beta

    @torch.no_grad()
    def forward(
        self,
        images: torch.Tensor,
        content: torch.Tensor | None = None,
        codes: torch.Tensor | None = None,
        style_codes: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        params: SASSLParams | None = None,
    ) -> tuple[torch.Tensor, SASSLParams]:
        if content is None:
            encoded = self.stylizer.encode(images)
            content, codes = encoded.content, encoded.code
        own = self.stylizer.content_code(content, codes)
        if params is None:
            n = None if style_codes is None else style_codes.shape[0]
            params = sample_sassl_params(images.shape[0], generator, self.p, self.alpha, self.beta, n)
        idx = params.style_index.to(images.device)
        source = (own if codes is None else codes) if style_codes is None else style_codes.to(images.device)
        return apply_sassl(images, content, own, source[idx], params, self.stylizer), params
