"""Image-conditioned generators behind one interface: images + one seed per output -> images.

``ImageGenerator.__call__(images, seeds)`` takes N conditioning images (PIL, RGB) and N integer
seeds and returns N float images in [0, 1] (H, W, 3). Every output depends only on its own image and
seed: each output gets its own ``torch.Generator`` (diffusers draws a sample's initial latents, and
unCLIP its embedding noise, from the generator at the sample's index), so a shard regenerated after a
crash gives the same images whatever else was in the batch. IC-GAN fits the same call: instance
features are computed from ``images`` inside the generator, the seed draws its z.

Two diffusers pipelines are wrapped, loaded from a local diffusers folder (``save_pretrained``
layout) or a hub id resolved through the Hugging Face cache:
- ``unclip``: ``StableUnCLIPImg2ImgPipeline`` with the authors' settings: empty prompt, DDIM with
  zero-SNR rescaled betas and trailing timesteps, 10 steps, eta 0, guidance 10, noise level 0;
- ``image-variation``: ``StableDiffusionImageVariationPipeline`` (its own scheduler; 50 steps,
  guidance 3 as on the lambdalabs model card).

diffusers and transformers are optional (the ``generative`` extra); :func:`require_extras` turns
their absence into one line naming the extra.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from sassl.choices import GENERATOR_PIPELINES

EXTRA = "generative"
PIPELINES = {  # kind -> diffusers class name (as model_index.json writes it)
    "unclip": "StableUnCLIPImg2ImgPipeline",
    "image-variation": "StableDiffusionImageVariationPipeline",
}
if ("auto", *PIPELINES) != GENERATOR_PIPELINES:  # the CLI offers sassl.choices' names
    raise ImportError("sassl.choices.GENERATOR_PIPELINES does not match sassl.generate.generators.PIPELINES")
# kind -> (steps, guidance) when the user gives none
DEFAULTS = {"unclip": (10, 10.0), "image-variation": (50, 3.0)}
MODEL_INDEX = "model_index.json"
UNCLIP_MODEL = "stabilityai/stable-diffusion-2-1-unclip-small"


class GeneratorError(ValueError):
    """A generator that cannot be used: missing extras, a missing or unrecognised model folder."""


class ImageGenerator(Protocol):
    """N conditioning images + N seeds -> N images, float32 (H, W, 3) in [0, 1] each."""

    def __call__(self, images: Sequence[Image.Image], seeds: Sequence[int]) -> Sequence[np.ndarray]: ...


def require_extras() -> None:
    """Import the optional dependencies or say in one line which extra to install."""
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise GeneratorError(
            f"sassl generate needs the optional dependencies diffusers and transformers ({exc}); "
            f"install them with: pip install 'sassl[{EXTRA}]'"
        ) from None


def resolve_model(source: str) -> Path:
    """A local diffusers folder for ``source`` (a folder, or a hub id found in or fetched to the HF cache)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / MODEL_INDEX).is_file():
            raise GeneratorError(f"{path}: not a diffusers pipeline folder (no {MODEL_INDEX}); "
                                 "save one with pipeline.save_pretrained(DIR) or pass a hub id")
        return path
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise GeneratorError(
            f"{source}: generator not found; pass a local diffusers folder or a hub id such as {UNCLIP_MODEL} "
            f"(fetch it where there is network with: hf download {UNCLIP_MODEL})")
    require_extras()
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()  # its "cannot reach the hub" chatter; the error below says it in one line
    try:
        return Path(DiffusionPipeline.download(source))
    except Exception as exc:  # offline and not cached, unknown id, no access: all end here
        raise GeneratorError(
            f"{source}: cannot load the generator from the Hugging Face hub or its local cache "
            f"({type(exc).__name__}); download it where there is network (hf download {source}) "
            "or pass a local diffusers folder") from None
    finally:
        logging.set_verbosity(level)


def pipeline_kind(folder: Path, requested: str = "auto") -> str:
    """``unclip`` or ``image-variation``, read from ``model_index.json``; ``requested`` must agree."""
    try:
        class_name = json.loads((folder / MODEL_INDEX).read_text())["_class_name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"{folder / MODEL_INDEX}: unreadable pipeline description ({exc})") from None
    kinds = [k for k, name in PIPELINES.items() if name == class_name]
    if not kinds:
        raise GeneratorError(f"{folder}: a {class_name}; sassl generate supports {', '.join(PIPELINES.values())}")
    if requested not in ("auto", kinds[0]):
        raise GeneratorError(f"{folder}: holds a {class_name} ({kinds[0]}), not {requested}")
    return kinds[0]


def fingerprint_folder(folder: Path) -> str:
    """Hash of ``model_index.json`` and every file of the pipeline's component folders (weights, configs).

    Reads every byte once (seconds for a few GB); other top-level files (README, checkpoints in
    other layouts) are not loaded by diffusers and not hashed.
    """
    index = json.loads((folder / MODEL_INDEX).read_text())
    files = [folder / MODEL_INDEX]
    for name, value in sorted(index.items()):
        if not name.startswith("_") and isinstance(value, list) and (folder / name).is_dir():
            files += sorted(p for p in (folder / name).rglob("*") if p.is_file() and not p.name.startswith("."))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def default_size(folder: Path) -> int:
    """The pipeline's native output side: UNet sample size x VAE scale factor (768 for unCLIP-small)."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
        return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GeneratorError(f"{folder}: cannot read the UNet/VAE configs for the output size ({exc})") from None


@dataclass(frozen=True)
class GeneratorSpec:
    """A resolved generator and its sampling settings; picklable, so Ray actors load it themselves."""

    kind: str
    source: str  # what the user passed (folder or hub id); each actor resolves it on its own node
    fingerprint: str
    steps: int
    guidance: float
    noise_level: int
    size: int  # side of the generated images before the resize to the bank's image size

    @classmethod
    def resolve(cls, source: str, kind: str = "auto", steps: int | None = None, guidance: float | None = None,
                noise_level: int = 0, size: int | None = None) -> "GeneratorSpec":
        """Check everything before any work: extras, model folder, pipeline class, options."""
        require_extras()
        folder = resolve_model(source)
        kind = pipeline_kind(folder, kind)
        default_steps, default_guidance = DEFAULTS[kind]
        steps = default_steps if steps is None else steps
        guidance = default_guidance if guidance is None else guidance
        if steps < 1:
            raise GeneratorError(f"--steps must be at least 1, got {steps}")
        if noise_level < 0:
            raise GeneratorError(f"--noise-level must be >= 0, got {noise_level}")
        if kind != "unclip" and noise_level:
            raise GeneratorError("--noise-level applies to unclip only")
        size = default_size(folder) if size is None else size
        if size < 8 or size % 8:
            raise GeneratorError(f"--gen-size must be a positive multiple of 8, got {size}")
        return cls(kind, source, fingerprint_folder(folder), steps, guidance, noise_level, size)

    def settings(self) -> dict:
        """What, besides the weights, determines the images (recorded in ``bank.json``)."""
        s = {"pipeline": PIPELINES[self.kind], "steps": self.steps, "guidance": self.guidance, "eta": 0.0,
             "size": self.size, "scheduler": "pipeline default"}
        if self.kind == "unclip":
            s.update(prompt="", noise_level=self.noise_level,
                     scheduler="DDIM, rescale_betas_zero_snr, trailing timesteps")
        return s

    def load(self, device: str) -> "DiffusersGenerator":
        """Load the pipeline on ``device`` (fp16 on CUDA); refuses weights other than the bank's."""
        import torch

        require_extras()
        import diffusers

        folder = resolve_model(self.source)
        found = fingerprint_folder(folder)
        if found != self.fingerprint:
            raise GeneratorError(f"{folder}: generator weights {found} differ from the bank's {self.fingerprint}")
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        cls = getattr(diffusers, PIPELINES[self.kind])
        import transformers

        diffusers.utils.logging.disable_progress_bar()  # the job shows its own progress
        transformers.utils.logging.disable_progress_bar()
        pipe = cls.from_pretrained(str(folder), local_files_only=True, dtype=dtype, low_cpu_mem_usage=_accelerate())
        if self.kind == "unclip":
            pipe.scheduler = diffusers.DDIMScheduler.from_config(
                pipe.scheduler.config, rescale_betas_zero_snr=True, timestep_spacing="trailing")
        pipe.set_progress_bar_config(disable=True)
        return DiffusersGenerator(pipe.to(device), self)


def _accelerate() -> bool:
    """diffusers loads weights without a second copy in memory only with ``accelerate`` installed."""
    from diffusers.utils import is_accelerate_available

    return is_accelerate_available()


class DiffusersGenerator:
    """A loaded diffusers pipeline as an :class:`ImageGenerator`."""

    def __init__(self, pipe, spec: GeneratorSpec) -> None:
        self.pipe, self.spec = pipe, spec

    def __call__(self, images: Sequence[Image.Image], seeds: Sequence[int]) -> Sequence[np.ndarray]:
        import torch

        s = self.spec
        kwargs = dict(image=list(images), num_inference_steps=s.steps, guidance_scale=s.guidance, eta=0.0,
                      height=s.size, width=s.size, output_type="np",
                      generator=[torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds])
        if s.kind == "unclip":
            kwargs.update(prompt=[""] * len(images), noise_level=s.noise_level)
        with torch.inference_mode():
            return self.pipe(**kwargs).images
