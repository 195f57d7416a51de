"""sassl: style-transfer augmentation (SASSL) for self-supervised learning."""

__version__ = "0.1.0"
