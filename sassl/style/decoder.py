"""The AdaIN decoder in the reference layout, so a public ``decoder.pth`` loads by key.

Mirror of the encoder up to relu4_1: reflection pad + conv + ReLU, nearest x2 upsampling, no
normalisation layers, last conv to RGB without ReLU. sassl's own decoder checkpoints also record the
fingerprint of the encoder they were trained against (``encoder_fingerprint``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sassl.weights import WeightsError, load_into, read_torch_file, seeded_he_init, state_dict_of, warn_random

# (in, out) channels per conv; "U" = nearest x2 upsampling.
_PLAN = [(512, 256), "U", (256, 256), (256, 256), (256, 256), (256, 128), "U", (128, 128), (128, 64), "U", (64, 64)]


class Decoder(nn.Module):
    """relu4_1 features (B, 512, h, w) -> RGB image (B, 3, 8h, 8w), roughly in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for step in _PLAN:
            if step == "U":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            else:
                cin, cout = step
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU()]
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(64, 3, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.net(feats)


def save_decoder(decoder: Decoder, path: str | Path, encoder_fingerprint: str) -> None:
    """Write a loadable decoder file (state dict + encoder fingerprint), atomically."""
    from sassl.atomic import atomic_torch_save

    atomic_torch_save(
        {"state_dict": decoder.net.state_dict(), "encoder_fingerprint": encoder_fingerprint}, path
    )


def load_decoder(source: str | Path, allow_random: bool = False) -> tuple[Decoder, str | None]:
    """Load a decoder from a reference ``decoder.pth`` or a sassl decoder file.

    Returns the decoder and the fingerprint of the encoder it expects (``None`` for reference files,
    which carry no such record). ``"random"`` needs ``allow_random=True`` and warns loudly.
    """
    source = str(source)
    if source == "random":
        if not allow_random:
            raise WeightsError("a random decoder needs the explicit --allow-random-weights option")
        warn_random("AdaIN decoder")
        dec = Decoder()
        seeded_he_init(dec.net)  # the same random decoder everywhere (DDP ranks, resumed runs, benches)
        return dec.eval(), None
    obj = read_torch_file(source)
    state = state_dict_of(obj, source)
    expected = obj.get("encoder_fingerprint") if isinstance(obj, dict) else None
    dec = Decoder()
    load_into(dec.net, state, source)
    return dec.eval(), expected


__all__ = ["Decoder", "WeightsError", "load_decoder", "save_decoder"]
