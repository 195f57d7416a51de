"""Loading weight files safely and with errors a user can act on.

Every weight file goes through :func:`load_state_dict_file` (``weights_only=True``: nothing is
unpickled) and :func:`load_into`, which reports missing keys, unexpected keys and shape mismatches
together in one message instead of torch's multi-line traceback.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn


class WeightsError(ValueError):
    """A weight file that cannot be used: missing, unreadable or with the wrong layout."""


def read_torch_file(path: str | Path, what: str = "weight file") -> Any:
    """``torch.load(..., weights_only=True)`` on CPU: nothing is unpickled, and every failure is one
    :class:`WeightsError` line naming the file (``what`` says what was expected there)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; one message for all
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a readable weights-only torch file ({first})") from None


def state_dict_of(obj: Any, source: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a loaded file: the object itself, or a sassl file's ``state_dict`` entry."""
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{source}: expected a state dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict (or a sassl file holding one under ``state_dict``) without unpickling."""
    return state_dict_of(read_torch_file(path), path)


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str,
              file_keys: Mapping[str, str] | None = None) -> None:
    """Load ``state`` strictly into ``module``; all problems are listed in one :class:`WeightsError`.

    ``file_keys`` maps keys of ``state`` that were renamed from the file's layout back to the file's
    names, so that messages name what the user can find in the file (``features.2.weight``).
    """
    expected = module.state_dict()
    name = (lambda k: file_keys.get(k, k)) if file_keys else (lambda k: k)
    missing = sorted(name(k) for k in set(expected) - set(state))
    unexpected = sorted(name(k) for k in set(state) - set(expected))
    mismatched = [
        f"{name(k)} {tuple(state[k].shape)} != expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_short(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches {_short(mismatched)}")
    if problems:
        raise WeightsError(
            f"{source}: does not fit {type(module).__name__}: " + "; ".join(problems)
        )
    module.load_state_dict({k: state[k].to(v.dtype) for k, v in expected.items()})


def fingerprint(module: nn.Module, extra: str = "") -> str:
    """A short hash of a module's weights (and ``extra`` settings) to tie banks to encoders."""
    h = hashlib.sha256(extra.encode())
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def seeded_he_init(module: nn.Module, seed: int = 0) -> None:
    """He-normal conv weights and zero biases from a fixed seed, leaving the global RNG alone.

    Used for ``random`` weights: the same network in every process and run, and (unlike PyTorch's
    default init, which shrinks the signal layer by layer) one whose output still varies with its input.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


def warn_random(what: str) -> None:
    """The one loud warning for random weights, which make stylisation meaningless."""
    msg = (
        f"RANDOM WEIGHTS for the {what}: stylised images will be noise-like, not real style "
        "transfer. Use this only for tests and smoke runs."
    )
    warnings.warn(msg, stacklevel=3)  # the CLI shows each warning once, as one red WARNING line


def _short(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}] ({len(items)})"
