"""An encoder + decoder pair that belong together, checked once when they are loaded."""

from __future__ import annotations

import warnings

from sassl.style.decoder import Decoder, load_decoder
from sassl.style.vgg import VGGEncoder, load_encoder
from sassl.style.weights import WeightsError


def load_stylizer(encoder: str, decoder: str, allow_random: bool = False) -> tuple[VGGEncoder, Decoder]:
    """Load both networks and refuse a decoder trained for another encoder.

    Reference ``decoder.pth`` files carry no encoder record and are trusted to match
    ``vgg_normalised.pth``; sassl's own decoder files are checked against the encoder's fingerprint.
    """
    with warnings.catch_warnings(record=True) as caught:  # warn (random weights) only once both are usable
        warnings.simplefilter("always")
        enc = load_encoder(encoder, allow_random)
        dec, expected = load_decoder(decoder, allow_random)
    if expected is not None and expected != enc.fingerprint:
        raise WeightsError(
            f"{decoder}: this decoder was trained for encoder {expected}, but the encoder "
            f"({encoder}) has fingerprint {enc.fingerprint}; pass the encoder weights it was trained with"
        )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return enc, dec.eval()
