"""Names and defaults the command line offers, in a module that imports nothing heavy.

``sassl --help`` must not import torch, Ray or torchvision (seconds on a busy machine), so the CLI
takes its option choices from here and the modules that implement them (codecs, methods, backbones,
stylizers, evaluation targets) import the same names from here; each checks at import that it implements
exactly these, so the two cannot drift apart.
"""

from __future__ import annotations

CODECS = ("fp16", "int8", "fp16+zstd", "int8+zstd", "int6+zstd", "int5+zstd", "int4+zstd")
DEFAULT_CODEC = "int5+zstd"  # smallest meeting the bench's size and PSNR rule (docs/bank-format.md)
METHOD_NAMES = ("barlow", "byol", "moco", "simclr", "simsiam")
ARCHS = ("resnet18", "resnet18-narrow", "resnet50")
RECIPE_NAMES = ("auto", "standard", "small")  # sassl.train.recipes
SMALL_BELOW = 64  # ``--recipe auto`` picks the small-data recipe for views smaller than this (px)
AUGSELF_GROUPS = ("crop", "color", "flip", "blur", "style")  # heads sassl.train.augself implements
CASSLE_GROUPS = ("crop", "color", "color_diff", "blur", "grayscale", "flip", "style")  # sassl.train.cassle descriptors
CASSLE_DEFAULT_GROUPS = ("crop", "color", "color_diff", "blur", "grayscale")  # the CASSLE authors' default
EVAL_TARGETS = ("dtd", "cifar10", "cifar100", "food101", "flowers102", "pets", "caltech101", "cars", "aircraft",
                "sun397")
STYLIZER_NAMES = ("ghiasi", "adain")  # sassl.style.registry.STYLIZERS implements exactly these
DEFAULT_STYLIZER = "ghiasi"
IMAGEFOLDER = "imagefolder:"
DEFAULT_IMAGE_SIZE = 224  # canonical image side of a bank
DEFAULT_JPEG_QUALITY = 95  # quality of a bank's canonical JPEG
DEFAULT_SHARD_SIZE = 1000  # images per virtual shard of an --image-folder input
DEFAULT_VIEWS = 10  # generated views per real image (sassl generate; the authors' setting)
GENERATOR_PIPELINES = ("auto", "unclip", "image-variation")  # sassl.generate.generators implements these
DEMO_BATCH = 64  # sassl demo: SimCLR batch; at equal compute, 400 steps of 64 learned more than 200 of 128
DEMO_STEPS = 400  # sassl demo: SimCLR steps per pretraining run (README "sassl demo" has the measurements)
