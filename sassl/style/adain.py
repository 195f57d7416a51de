"""The AdaIN stylizer (Huang & Belongie 2017): style statistics, AdaIN, and the VGG + decoder pair.

The style of a feature map is its per-channel mean and standard deviation over space. AdaIN is linear
in the target statistics, so SASSL's blend of statistics ((1 - alpha) z_c + alpha z_s) equals the
reference port's feature blend alpha * AdaIN(f_c, f_s) + (1 - alpha) * f_c.
"""

from __future__ import annotations

import warnings

import torch

from sassl.style.decoder import Decoder, load_decoder
from sassl.style.stylizer import Encoded, Stylizer, StylizerSpec
from sassl.style.vgg import FEATURE_CHANNELS, FEATURE_STRIDE, VGGEncoder, load_encoder
from sassl.weights import WeightsError

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




def stats_code(feats: torch.Tensor) -> torch.Tensor:
    """The AdaIN style code of features: (B, 2, C) float32 ``[mean; std]`` (the bank's ``style.npy`` layout)."""
    return torch.stack(style_stats(feats), 1)


class AdaINStylizer(Stylizer):
    """Huang & Belongie's AdaIN: VGG-19 relu4_1 features, their (mean, std) as the code, a decoder.

    Loaded with ``parts="encode"`` (precompute) it has no decoder; with ``parts="render"`` (training from
    a bank) no encoder: the encoder then runs only at precompute time, which is the point of a bank.
    """

    name = "adain"
    code_shape = (2, FEATURE_CHANNELS)
    content_stride = FEATURE_STRIDE
    content_channels = FEATURE_CHANNELS
    content_layer = "relu4_1"
    stores_content = True
    min_size = FEATURE_STRIDE

    def __init__(self, encoder: VGGEncoder | None, decoder: Decoder | None, fingerprint: str, source: str) -> None:
        super().__init__(fingerprint, source)
        self.encoder, self.decoder = encoder, decoder

    def encode(self, images: torch.Tensor) -> Encoded:
        if self.encoder is None:
            raise RuntimeError("this AdaIN stylizer was loaded without its VGG encoder (parts='render')")
        feats = self.encoder(images.to(self.dtype)).float()
        return Encoded(feats, stats_code(feats))

    def content_code(self, content: torch.Tensor, stored: torch.Tensor | None) -> torch.Tensor:
        return stats_code(content)

    def render(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        if self.decoder is None:
            raise RuntimeError("this AdaIN stylizer was loaded without its decoder (parts='encode')")
        code = code.float()
        target = adain(content.float(), code[:, 0], code[:, 1])
        return self.decoder(target.to(self.dtype)).float()


def load(spec: StylizerSpec, parts: str = "all") -> AdaINStylizer:
    """The AdaIN pair from ``spec.encoder_weights`` and ``spec.decoder``, checked to belong together.

    The encoder is also loaded for ``parts="render"`` when the decoder file does not record the encoder
    it was trained with (the public ``decoder.pth``): then the encoder named by ``--encoder-weights`` is
    what identifies the pair, and is dropped after.
    """
    decoder, expected = None, None
    with warnings.catch_warnings(record=True) as caught:  # warn (random weights) only once both are usable
        warnings.simplefilter("always")
        if parts in ("all", "render"):
            if spec.decoder is None:
                raise WeightsError("--stylizer adain needs --decoder (a decoder.pth, or 'random' with --allow-random-weights)")
            decoder, expected = load_decoder(spec.decoder, spec.allow_random_weights)
        encoder = None
        if parts in ("all", "encode") or expected is None:
            encoder = load_encoder(spec.encoder_weights, spec.allow_random_weights)
    if expected is not None and encoder is not None and expected != encoder.fingerprint:
        raise WeightsError(
            f"{spec.decoder}: this decoder was trained for encoder {expected}, but the encoder "
            f"({spec.encoder_weights}) has fingerprint {encoder.fingerprint}; pass the encoder weights it was trained with"
        )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    fingerprint = expected or encoder.fingerprint
    if parts == "render":
        encoder = None
    source = f"encoder {spec.encoder_weights}" + (f", decoder {spec.decoder}" if spec.decoder else "")
    return AdaINStylizer(encoder, decoder, fingerprint, source).eval()
