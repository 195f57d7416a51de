"""Feature codecs: how relu4_1 content features are stored per sample.

The codec decides whether training is I/O bound (a 224 px sample is 512 x 28 x 28 features: 784 KiB
in fp16), so it is a bank setting recorded in ``bank.json``. Codecs:

- ``fp16``: half precision, member ``feats.npy``.
- ``int8``: 8-bit per-channel affine quantisation ``x ~ lo[c] + q * scale[c]`` with ``q`` in
  0..255 (relu4_1 features are non-negative, so an unsigned range doubles the resolution of a
  symmetric int8 one); members ``feats.npy`` (uint8) and ``qparams.npy`` (2, C) float32 ``[lo; scale]``.
- ``fp16+zstd`` / ``int8+zstd``: the same arrays, zstd-compressed through ``pyarrow.Codec`` (no extra
  dependency). The compressed member ``feats.zst`` holds the raw C-order array bytes; its shape and
  dtype follow from the bank's ``feature_shape`` and codec, so nothing but bytes is stored.
  zstd is where ReLU sparsity pays: runs of zeros compress to almost nothing.
- ``int6+zstd`` / ``int5+zstd`` / ``int4+zstd``: the same quantiser with ``2**bits - 1`` steps, codes
  still stored one per byte. No bit packing: zstd's entropy stage drops the unused high bits by
  itself, and byte-aligned codes keep decoding a plain ``frombuffer``. Without zstd fewer bits would
  save nothing, so these exist only with it. Fewer levels trade the stylisation's PSNR headroom for
  bytes; ``bench/precompute.py`` measures the trade and chose :data:`DEFAULT_CODEC`.

Square-root companding of the long-tailed ReLU activations was measured too and lost to the
linear quantiser at every bit width (random weights), so it is not offered.

Encoding is batched (quantisation runs on the encoder's device); decoding is per sample on the
reader's CPU. Only ``.npy`` with ``allow_pickle=False`` and raw bytes are produced or accepted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch

from sassl.choices import CODECS, DEFAULT_CODEC  # noqa: F401  (re-exported: the names live in the light module)

# Higher levels shrink the features by a few percent at several times the encode cost, and zstd
# decodes any level at the same speed; the level is not recorded because decoding does not need it.
ZSTD_LEVEL = 3


class CodecError(ValueError):
    """Feature members that do not decode under the bank's codec."""


@dataclass(frozen=True)
class Codec:
    """A parsed codec name: the element type, the quantiser's bit width and whether zstd is applied."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in CODECS:
            raise ValueError(f"unknown feature codec {self.name!r}; expected one of {', '.join(CODECS)}")

    @property
    def quantised(self) -> bool:
        return self.name.startswith("int")

    @property
    def bits(self) -> int | None:
        """Bits per quantised code (stored one code per byte), None for fp16."""
        return int(self.name[3]) if self.quantised else None

    @property
    def levels(self) -> int:
        """Largest code: ``2**bits - 1`` quantisation steps span each channel's [min, max]."""
        return (1 << self.bits) - 1

    @property
    def zstd(self) -> bool:
        return self.name.endswith("+zstd")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.quantised else np.float16)

    @property
    def fields(self) -> tuple[str, ...]:
        """The member names (after ``key.``) one sample's features occupy."""
        data = "feats.zst" if self.zstd else "feats.npy"
        return (data, "qparams.npy") if self.quantised else (data,)


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes, name: str) -> np.ndarray:
    """``np.load`` of one member without pickles; any failure names the member."""
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:
        raise CodecError(f"{name}: not a readable .npy member ({exc})") from None


def quantise(feats: torch.Tensor, levels: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) float -> (uint8 codes in 0..levels, (B, 2, C) float32 ``[lo; scale]``), per sample and channel."""
    flat = feats.float().flatten(2)
    lo = flat.amin(-1)
    scale = (flat.amax(-1) - lo) / levels
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant channel: codes are all 0
    codes = ((flat - lo[..., None]) / scale[..., None]).round_().clamp_(0, levels).to(torch.uint8)
    return codes.view_as(feats), torch.stack([lo, scale], 1)


def dequantise(codes: np.ndarray, qparams: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantise` for one sample: (C, H, W) uint8 and (2, C) -> float32."""
    lo, scale = qparams[0].astype(np.float32), qparams[1].astype(np.float32)
    return codes.astype(np.float32) * scale[:, None, None] + lo[:, None, None]


def encode_batch(feats: torch.Tensor, codec: Codec, zstd_level: int = ZSTD_LEVEL) -> list[dict[str, bytes]]:
    """Encode (B, C, H, W) features into one ``{field: bytes}`` dict per sample.

    ``zstd_level`` exists for the benchmark's level comparison; banks are written at :data:`ZSTD_LEVEL`.
    """
    if codec.quantised:
        codes, qparams = quantise(feats, codec.levels)
        arrays, extra = codes.cpu().numpy(), qparams.cpu().numpy()
    else:
        arrays, extra = feats.to(torch.float16).cpu().numpy(), None
    zstd = _zstd(zstd_level) if codec.zstd else None
    out = []
    for i, arr in enumerate(arrays):
        sample = {codec.fields[0]: zstd.compress(arr.tobytes(), asbytes=True) if zstd else npy_bytes(arr)}
        if extra is not None:
            sample["qparams.npy"] = npy_bytes(extra[i])
        out.append(sample)
    return out


def decode_features(fields: dict[str, bytes], codec: Codec, shape: tuple[int, int, int], name: str) -> np.ndarray:
    """Decode one sample's feature members to float32 (C, H, W); raises :class:`CodecError` naming ``name``."""
    missing = [f for f in codec.fields if f not in fields]
    if missing:
        raise CodecError(f"{name}: missing feature member(s) {', '.join(missing)} for codec {codec.name}")
    raw = fields[codec.fields[0]]
    if codec.zstd:
        size = int(np.prod(shape)) * codec.dtype.itemsize
        try:
            data = _zstd().decompress(raw, decompressed_size=size, asbytes=True)
        except Exception as exc:
            raise CodecError(f"{name}: corrupt zstd feature member ({exc})") from None
        if len(data) != size:
            raise CodecError(f"{name}: feature member has {len(data)} bytes, expected {size}")
        arr = np.frombuffer(data, dtype=codec.dtype).reshape(shape)
    else:
        arr = load_npy(raw, f"{name}.feats.npy")
        if arr.dtype != codec.dtype or tuple(arr.shape) != tuple(shape):
            raise CodecError(
                f"{name}: features are {arr.dtype} {tuple(arr.shape)}, expected {codec.dtype} {tuple(shape)}"
            )
    if not codec.quantised:
        return arr.astype(np.float32)
    if codec.levels < 255 and arr.max(initial=0) > codec.levels:  # a valid zstd frame of wrong codes
        raise CodecError(f"{name}: feature codes exceed {codec.levels}, the largest {codec.name} code")
    qparams = load_npy(fields["qparams.npy"], f"{name}.qparams.npy")
    if qparams.shape != (2, shape[0]):
        raise CodecError(f"{name}: qparams shape {qparams.shape}, expected (2, {shape[0]})")
    return dequantise(arr, qparams)


def _zstd(level: int = ZSTD_LEVEL):
    import pyarrow

    return pyarrow.Codec("zstd", compression_level=level)
