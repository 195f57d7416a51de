"""The two views of a batch, with SASSL inserted into view 1 between the crop and the colour ops.

Style sources (``--style``):
- ``none``: the baseline, no style transfer;
- ``in-batch``: style codes (and, for AdaIN, content features) come from a content bank; each sample
  takes the style of another sample of the batch;
- ``bank``: as ``in-batch`` but styles are rows of an external style bank;
- ``online``: no bank; the stylizer's encoder (Ghiasi's style predictor, AdaIN's VGG) runs on the crops
  in the loop (small data sets, and the benchmark's reference for what the bank saves).

With a bank, view 1's crop box is applied to the canonical image and, divided by the stylizer's
content stride, to its stored content input (AdaIN's relu4_1 features), so only the crop is rendered
and no encoder runs.

Generated views (Ayromlou et al. 2024): with ``gen_p > 0`` view 2 starts, with probability
``gen_p`` per sample, from the sample's generated copy (delivered with the batch) instead of the real
image; view 1 stays real. The draw is a parameter of view 2 (``ViewParams.generated``, True only
where a copy exists), and the method's standard augmentations follow either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sassl.style.block import apply_sassl, sample_sassl_params
from sassl.style.stylizer import Stylizer
from sassl.train.augment import AugConfig, ViewParams, crop, photometric, sample_view_params
from sassl.train.record import view_record

STYLE_MODES = ("none", "in-batch", "bank", "online")


@dataclass
class StyleConfig:
    """Where styles come from and SASSL's sampling ranges (paper defaults)."""

    mode: str = "none"
    p: float = 0.8
    alpha: tuple[float, float] = (0.1, 0.3)
    beta: tuple[float, float] = (0.1, 0.3)
    # Render the crop at this fraction of the view's side, then upsample: AdaIN's decoder costs about as
    # much as its encoder, so 0.5 cuts its extra cost by ~4x; 1.0 is the paper's full resolution.
    decode_scale: float = 1.0

    def decode_size(self, out_size: int, stride: int, minimum: int = 1) -> int:
        """Side of the rendered image: a multiple of the content ``stride``, at least ``minimum`` pixels
        (a stylizer's smallest input: smaller crops are rendered at that size and resized back)."""
        side = max(stride, round(out_size * self.decode_scale / stride) * stride)
        return max(side, -(-minimum // stride) * stride)


@dataclass
class Batch:
    """One batch on the device: uint8 canonical images, and from a bank the style codes and (for
    stylizers that store it) the content input."""

    images: torch.Tensor  # (B, 3, S, S) uint8
    labels: torch.Tensor  # (B,) long, -1 = unlabelled
    content: torch.Tensor | None = None  # (B, C, S / stride, S / stride), e.g. AdaIN's relu4_1 features
    codes: torch.Tensor | None = None  # (B, *code_shape) float32
    gen_images: torch.Tensor | None = None  # (B, 3, S, S) uint8: a generated copy of each sample
    gen_view: torch.Tensor | None = None  # (B,) long: which of the K copies, -1 = the sample has none

    @classmethod
    def from_loader(cls, d: dict, device: torch.device) -> "Batch":
        get = lambda k: d[k].to(device, non_blocking=True) if k in d else None  # noqa: E731
        return cls(get("image"), get("label").long(), get("content"), get("code"), get("gen_image"), get("gen_view"))


@dataclass
class TrainBatch:
    """What a training step consumes: both views in [0, 1], both parameter records (the fixed
    layout of :mod:`sassl.train.record`), the labels, and the parameters for replay and previews."""

    v1: torch.Tensor  # (B, 3, H, W)
    v2: torch.Tensor
    rec1: torch.Tensor  # (B, len(record.COLUMNS)) float
    rec2: torch.Tensor
    labels: torch.Tensor  # (B,) long, -1 = unlabelled
    p1: ViewParams
    p2: ViewParams


class ViewMaker(nn.Module):
    """Samples both views' parameters on the CPU, then renders them batched on the device."""

    def __init__(
        self,
        views: tuple[AugConfig, AugConfig],
        out_size: int,
        style: StyleConfig,
        stylizer: Stylizer | None = None,
        style_codes: torch.Tensor | None = None,
        gen_p: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= gen_p <= 1.0:
            raise ValueError(f"gen_p must be in [0, 1], got {gen_p}")
        self.gen_p = gen_p
        if style.mode not in STYLE_MODES:
            raise ValueError(f"unknown style mode {style.mode!r}; expected one of {STYLE_MODES}")
        if style.mode != "none" and stylizer is None:
            raise ValueError(f"style mode {style.mode!r} needs a stylizer")
        if style.mode == "bank" and style_codes is None:
            raise ValueError("style mode 'bank' needs style codes (load_style_bank)")
        self.views, self.out_size, self.style = views, out_size, style
        self.stylizer = stylizer.eval() if stylizer is not None else None
        if style_codes is not None:
            self.register_buffer("bank_codes", style_codes.float(), persistent=False)

    def sample(self, n: int, source_size: int, generator: torch.Generator,
               available: torch.Tensor | None = None) -> tuple[ViewParams, ViewParams]:
        """Both views' parameters (CPU tensors); view 1 carries SASSL's unless the mode is none.

        With ``gen_p > 0`` view 2's ``generated`` is a Bernoulli(gen_p) draw, kept only where
        ``available`` (the samples that have a generated copy); view 1's is all False.
        """
        p1 = sample_view_params(n, source_size, self.views[0], generator)
        p2 = sample_view_params(n, source_size, self.views[1], generator)
        if self.style.mode != "none":
            rows = self.bank_codes.shape[0] if self.style.mode == "bank" else None
            s = self.style
            p1.sassl = sample_sassl_params(n, generator, s.p, s.alpha, s.beta, rows)
        if self.gen_p > 0:
            drawn = torch.rand(n, generator=generator) < self.gen_p
            p2.generated = drawn if available is None else drawn & available.cpu()
            p1.generated = torch.zeros(n, dtype=torch.bool)
        return p1, p2

    def render(self, batch: Batch, p: ViewParams) -> torch.Tensor:
        """One view in [0, 1]: crop, SASSL (when ``p.sassl`` is set), then the photometric ops."""
        return self.render_measured(batch, p)[0]

    @torch.no_grad()
    def render_measured(self, batch: Batch, p: ViewParams) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`render`, plus the (B, 3) mean colour change of the jitter (for the record)."""
        p = p.to(batch.images.device)
        images = batch.images
        if p.generated is not None and batch.gen_images is not None:
            use = p.generated & (batch.gen_view >= 0)
            images = torch.where(use[:, None, None, None], batch.gen_images, images)
        images = images.float().div_(255)
        x = crop(images, p.box, self.out_size)
        if p.sassl is not None and bool(p.sassl.applied.any()):
            x = self._stylise(x, batch, p)
        return photometric(x, p)

    def _stylise(self, x: torch.Tensor, batch: Batch, p: ViewParams) -> torch.Tensor:
        st = self.stylizer
        idx = p.sassl.style_index
        size = self.style.decode_size(self.out_size, st.content_stride, st.min_size)
        if self.style.mode == "online":
            small = x if size == x.shape[-1] else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
            encoded = st.encode(small)
            content, own = encoded.content, encoded.code
            style = own[idx]
        else:
            if batch.codes is None:
                raise ValueError(f"style mode {self.style.mode!r} needs bank style codes in the batch")
            stored = batch.content if st.stores_content else batch.images.float().div_(255)
            if stored is None:
                raise ValueError(f"style mode {self.style.mode!r} needs the bank's stored content in the batch")
            stride = st.content_stride
            content = crop(stored, p.box, size // stride, 1.0 / stride)
            own = st.content_code(content, batch.codes)
            style = self.bank_codes[idx] if self.style.mode == "bank" else batch.codes[idx]
        return apply_sassl(x, content, own, style, p.sassl, st)

    def forward(self, batch: Batch, generator: torch.Generator) -> TrainBatch:
        """Sample both views' parameters, render them, and record them in the fixed layout."""
        available = batch.gen_view >= 0 if batch.gen_view is not None else None
        p1, p2 = self.sample(batch.images.shape[0], batch.images.shape[-1], generator, available)
        (v1, shift1), (v2, shift2) = self.render_measured(batch, p1), self.render_measured(batch, p2)
        rec1, rec2 = view_record(p1, self.views[0], shift1), view_record(p2, self.views[1], shift2)
        return TrainBatch(v1, v2, rec1, rec2, batch.labels, p1, p2)
