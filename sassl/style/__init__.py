"""Style transfer shared by every stage: the Stylizer interface, its implementations and the SASSL block."""

from sassl.style.adain import AdaINStylizer, adain, style_stats
from sassl.style.block import SASSL, SASSLParams, apply_sassl, in_batch_styles, sample_sassl_params
from sassl.style.decoder import Decoder, load_decoder, save_decoder
from sassl.style.registry import DEFAULT_STYLIZER, STYLIZERS, load_stylizer
from sassl.style.stylizer import Encoded, Stylizer, StylizerSpec
from sassl.style.vgg import VGGEncoder, load_encoder

__all__ = [
    "AdaINStylizer",
    "DEFAULT_STYLIZER",
    "Decoder",
    "Encoded",
    "SASSL",
    "SASSLParams",
    "STYLIZERS",
    "Stylizer",
    "StylizerSpec",
    "VGGEncoder",
    "adain",
    "apply_sassl",
    "in_batch_styles",
    "load_decoder",
    "load_encoder",
    "load_stylizer",
    "save_decoder",
    "sample_sassl_params",
    "style_stats",
]
