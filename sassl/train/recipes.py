"""Training recipes: the optimiser, the views and the loss settings a method trains with, as one choice.

Two recipes per method:

- ``standard``: the published ImageNet recipes (SimCLR: LARS, base lr 0.3 per 256 images, weight
  decay 1e-6, 10 warmup epochs, temperature 0.1, Gaussian blur; MoCo v2; BYOL).
- ``small``: small images and small batches (CIFAR-like data, a few thousand samples), transcribed
  from the CIFAR-10 benchmark settings that lightly and solo-learn publish: SGD with momentum 0.9,
  lr 0.06 per 128 images, weight decay 5e-4, cosine decay without warmup, no Gaussian blur, NT-Xent
  temperature 0.5 (colour jitter as in ``standard``, see ``_small_view``).

Why ``small`` exists (measured in ``bench/learn.py``, figures in the README's performance section):
at batch 128 the standard SimCLR recipe barely moves the weights. LARS scales each layer's step to
``eta * lr * ||w||`` with eta = 1e-3, and the linear scaling rule gives lr = 0.15 at batch 128, so a
layer moves by about 1.5e-4 of its norm per step, 32 times less than at batch 4096 for which the
recipe was tuned; a 10-epoch warmup then spends much of a short run near zero. Blur with sigma up
to 2 px on a 32 px crop removes most of what distinguishes small images.

``auto`` (the trainer's default) picks ``small`` below 64 px views and ``standard`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sassl.choices import RECIPE_NAMES, SMALL_BELOW  # defined in the light module: the CLI reads them without torch
from sassl.train.augment import AugConfig
from sassl.train.methods import METHODS
from sassl.train.optim import OptimRecipe



@dataclass(frozen=True)
class Recipe:
    """Everything a recipe fixes for one method; ``method_defaults`` are constructor options that
    explicit ``method_options`` still override."""

    name: str
    optim: OptimRecipe
    views: tuple[AugConfig, AugConfig]
    method_defaults: dict[str, Any] = field(default_factory=dict)


# lightly's CIFAR-10 benchmark trains every method with this optimiser (lr 0.06 at batch 128).
_SMALL_OPTIM = OptimRecipe("sgd", 0.12, 5e-4, 0)


def _small_view(v: AugConfig) -> AugConfig:
    """No blur. Colour jitter keeps the method's strength, where lightly's CIFAR benchmark halves it:
    on grey digits the two are equal (``bench/learn.py --ablation``: 97.5 / 94.3 against 97.0 / 94.5
    linear / kNN-20), and on photo crops whose random tint identified each image, half strength let
    the colour solve the contrastive task (38.8 / 35.5 against 54.5 / 42.8, one seed each; README,
    "Learning on small data")."""
    return replace(v, blur_p=0.0)


_SMALL_METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "simclr": {"temperature": 0.5},  # lightly's NTXentLoss default, solo-learn's CIFAR SimCLR
}


def resolve_recipe(name: str, method: str, image_size: int) -> Recipe:
    """The recipe ``name`` (auto | standard | small) for ``method`` at views of ``image_size`` px."""
    if name not in RECIPE_NAMES:
        raise ValueError(f"unknown recipe {name!r}; expected one of {RECIPE_NAMES}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    if name == "auto":
        name = "small" if image_size < SMALL_BELOW else "standard"
    spec = METHODS[method]
    if name == "standard":
        return Recipe(name, spec.recipe, spec.views)
    v1, v2 = spec.views
    return Recipe(name, _SMALL_OPTIM, (_small_view(v1), _small_view(v2)),
                  dict(_SMALL_METHOD_DEFAULTS.get(method, {})))
