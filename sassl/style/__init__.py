"""Style transfer shared by every stage: VGG encoder, AdaIN, decoder and the SASSL block."""

from sassl.style.adain import adain, blend_stats, style_stats
from sassl.style.decoder import Decoder, load_decoder, save_decoder
from sassl.style.block import SASSL, SASSLParams, apply_sassl, in_batch_styles, sample_sassl_params
from sassl.style.stylizer import load_stylizer
from sassl.style.vgg import VGGEncoder, load_encoder
from sassl.style.weights import WeightsError

__all__ = [
    "Decoder",
    "SASSL",
    "SASSLParams",
    "VGGEncoder",
    "WeightsError",
    "adain",
    "apply_sassl",
    "blend_stats",
    "in_batch_styles",
    "load_decoder",
    "load_encoder",
    "load_stylizer",
    "save_decoder",
    "sample_sassl_params",
    "style_stats",
]
