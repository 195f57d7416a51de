"""Generative views (Ayromlou et al. 2024): image-conditioned generators write K views per sample as a bank."""

from sassl.generate.generators import GeneratorError, GeneratorSpec, ImageGenerator
from sassl.generate.job import GenerateConfig, generate

__all__ = ["GenerateConfig", "GeneratorError", "GeneratorSpec", "ImageGenerator", "generate"]
