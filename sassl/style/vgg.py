"""The frozen VGG-19 encoder up to relu4_1, in the layout of the public AdaIN implementations.

The module list is exactly the "normalised VGG" of the AdaIN ports (a 1x1 input conv, then
pad + conv + ReLU per layer, max-pool between blocks), so their ``vgg_normalised.pth`` loads by key.
torchvision's ImageNet VGG-19 loads into the same layout: its ImageNet mean/std normalisation is
folded into the 1x1 conv, and padding/pooling follow torchvision (zeros, floor) so that its
features are reproduced exactly. Input is always RGB in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD
from sassl.weights import (
    WeightsError,
    fingerprint,
    load_into,
    load_state_dict_file,
    seeded_he_init,
    warn_random,
)

# Channels of VGG-19's 16 convs ("M" = max-pool). The encoder keeps the prefix up to relu4_1.
_VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512]
RELU4_1 = 31  # children [:31] of the reference Sequential end at relu4_1
STYLE_LAYERS = (4, 11, 18, 31)  # ends of relu1_1, relu2_1, relu3_1, relu4_1
FEATURE_CHANNELS = 512
FEATURE_STRIDE = 8
# torchvision ``features`` conv indices, in order, for the 16 convs of VGG-19.
_TV_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
FLAVOURS = ("adain", "torchvision")


def _layers(flavour: str) -> list[nn.Module]:
    """The full 53-module reference list (to relu5_4), so reference state dicts load by key."""
    pad = nn.ReflectionPad2d if flavour == "adain" else nn.ZeroPad2d
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    cin = 3
    for c in _VGG19:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=flavour == "adain"))
        else:
            layers += [pad(1), nn.Conv2d(cin, int(c), 3), nn.ReLU()]
            cin = int(c)
    return layers


def _conv_indices() -> list[int]:
    return [i for i, m in enumerate(_layers("adain")) if isinstance(m, nn.Conv2d)][1:]


class VGGEncoder(nn.Module):
    """Frozen VGG-19 to relu4_1; ``forward`` gives relu4_1, ``forward_all`` the four style layers.

    ``fingerprint`` identifies the weights and flavour; banks and decoders record it so that features
    are never decoded by a decoder trained for another encoder.
    """

    def __init__(self, flavour: str = "adain") -> None:
        super().__init__()
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown VGG flavour {flavour!r}; expected one of {FLAVOURS}")
        self.flavour = flavour
        self.net = nn.Sequential(*_layers(flavour)[:RELU4_1])
        self.fingerprint = ""
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGEncoder":
        """Stays in eval mode: the encoder is never trained."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at relu1_1, relu2_1, relu3_1 and relu4_1 (for the decoder's style loss)."""
        out, start = [], 0
        for end in STYLE_LAYERS:
            x = self.net[start:end](x)
            out.append(x)
            start = end
        return out

    def _finish(self) -> "VGGEncoder":
        self.fingerprint = fingerprint(self.net, extra=self.flavour)
        return self


def from_adain_state(state: dict[str, torch.Tensor], source: str = "state dict") -> VGGEncoder:
    """Encoder from a ``vgg_normalised.pth``-style state dict (keys ``0.weight`` .. ``51.weight``).

    Only the keys up to relu4_1 are required; the rest of the reference file is ignored.
    """
    enc = VGGEncoder("adain")
    wanted = {k: v for k, v in state.items() if int(k.split(".")[0]) < RELU4_1} if _numeric(state) else state
    load_into(enc.net, wanted, source)
    return enc._finish()


def from_torchvision_state(state: dict[str, torch.Tensor], source: str = "state dict") -> VGGEncoder:
    """Encoder from torchvision ``vgg19`` weights (keys ``features.N.weight``; classifier ignored)."""
    ours = _conv_indices()
    mapped: dict[str, torch.Tensor] = {}
    file_keys: dict[str, str] = {}
    for tv, mine in zip(_TV_CONVS, ours):
        if mine >= RELU4_1:
            break
        for p in ("weight", "bias"):
            key = f"features.{tv}.{p}"
            if key not in state:
                raise WeightsError(f"{source}: not torchvision VGG-19 weights (missing {key})")
            mapped[f"{mine}.{p}"] = state[key]
            file_keys[f"{mine}.{p}"] = key
    mean = torch.tensor(IMAGENET_MEAN)
    std = torch.tensor(IMAGENET_STD)
    mapped["0.weight"] = torch.diag(1.0 / std).reshape(3, 3, 1, 1)
    mapped["0.bias"] = -mean / std
    enc = VGGEncoder("torchvision")
    load_into(enc.net, mapped, source, file_keys)
    return enc._finish()


def load_encoder(source: str | Path = "torchvision", allow_random: bool = False) -> VGGEncoder:
    """Build the frozen encoder from ``source``.

    ``source`` is a path to ``vgg_normalised.pth`` (AdaIN layout) or to a torchvision ``vgg19``
    state dict, ``"torchvision"`` for the torchvision weights enum (cached download), or
    ``"random"``, which needs ``allow_random=True`` and warns loudly.
    """
    source = str(source)
    if source == "random":
        if not allow_random:
            raise WeightsError("random encoder weights need the explicit --allow-random-weights option")
        warn_random("VGG encoder")
        enc = VGGEncoder("adain")
        seeded_he_init(enc.net)  # the same random encoder everywhere, so banks and decoders agree
        return enc._finish()
    if source == "torchvision":
        from torchvision.models import VGG19_Weights

        try:
            state = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:
            raise WeightsError(
                f"torchvision VGG19_Weights.IMAGENET1K_V1: could not be loaded ({type(exc).__name__}); "
                "without network access pass a local file: --encoder-weights vgg_normalised.pth "
                "or a torchvision vgg19 state dict"
            ) from None
        return from_torchvision_state(state, "torchvision VGG19_Weights.IMAGENET1K_V1")
    state = load_state_dict_file(source)
    if "features.0.weight" in state:
        return from_torchvision_state(state, source)
    if "0.weight" in state and tuple(state["0.weight"].shape) == (3, 3, 1, 1):
        return from_adain_state(state, source)
    raise WeightsError(
        f"{source}: neither an AdaIN vgg_normalised state dict (key 0.weight of shape 3x3x1x1) "
        "nor torchvision vgg19 weights (keys features.N.weight)"
    )


def _numeric(state: dict[str, torch.Tensor]) -> bool:
    return all(k.split(".")[0].isdigit() for k in state)
