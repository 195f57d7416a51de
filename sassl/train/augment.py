"""Batched device augmentations driven by parameters sampled first, as tensors.

Every random choice of a view (crop box, flip, colour-jitter factors and order, grayscale, blur
sigma, solarize) is drawn on the CPU from a ``torch.Generator`` into a :class:`ViewParams`, then
applied to the whole batch on the training device. Keeping the parameters as data lets a view be
replayed exactly, lets the crop box be applied to precomputed feature maps as well as to pixels
(SASSL decodes only the crop), and gives AugSelf/CASSLE their inputs (:mod:`sassl.train.record`).

Images are float (B, 3, H, W) in [0, 1] throughout; normalisation for the backbone is separate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from sassl.style.block import SASSLParams
from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD

Range = tuple[float, float]
_GRAY = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugConfig:
    """The distribution of one view; defaults are BYOL's view 1 (Grill et al. 2020, Table 6)."""

    scale: Range = (0.08, 1.0)
    ratio: Range = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    gray_p: float = 0.2
    blur_p: float = 1.0
    sigma: Range = (0.1, 2.0)
    solarize_p: float = 0.0


# Published view pairs (view 1, view 2); each method's registry entry names the pair it uses.
# SimCLR (Chen et al. 2020, colour strength 1); MoCo v2 (Chen et al. 2020b), also SimSiam's (Chen & He
# 2021); BYOL's asymmetric pair (Grill et al. 2020), also Barlow Twins' (Zbontar et al. 2021).
SIMCLR_VIEWS = (AugConfig(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2, blur_p=0.5),) * 2
MOCO_V2_VIEWS = (AugConfig(scale=(0.2, 1.0), saturation=0.4, blur_p=0.5),) * 2
BYOL_VIEWS = (AugConfig(), AugConfig(blur_p=0.1, solarize_p=0.2))


@dataclass
class ViewParams:
    """Per-sample parameters of one view of a batch (all tensors on the CPU until ``to``)."""

    box: torch.Tensor  # (B, 4) float x0, y0, x1, y1 in source-image pixels
    source_size: int  # side S of the square source image the box refers to
    flip: torch.Tensor  # (B,) bool
    jitter: torch.Tensor  # (B, 4) brightness, contrast, saturation, hue (identity when not applied)
    jitter_order: torch.Tensor  # (B, 4) long, a permutation of 0..3 per sample
    grayscale: torch.Tensor  # (B,) bool
    blur_sigma: torch.Tensor  # (B,) float, 0 = no blur
    solarize: torch.Tensor  # (B,) bool
    sassl: SASSLParams | None = None  # style transfer parameters (view 1 only)
    generated: torch.Tensor | None = None  # (B,) bool: the view starts from a generated copy (--generated)

    def to(self, device: torch.device | str) -> "ViewParams":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, (torch.Tensor, SASSLParams)):
                moved[name] = value.to(device)
        return ViewParams(**moved)

    def without_style(self) -> "ViewParams":
        """The same view with style transfer switched off (for previews and ablations)."""
        if self.sassl is None:
            return self
        off = replace(self.sassl, applied=torch.zeros_like(self.sassl.applied))
        return replace(self, sassl=off)


def _uniform(n: int, rng: Range, g: torch.Generator | None) -> torch.Tensor:
    return rng[0] + (rng[1] - rng[0]) * torch.rand(n, generator=g)


def sample_boxes(
    n: int, size: int, scale: Range, ratio: Range, g: torch.Generator | None, attempts: int = 10
) -> torch.Tensor:
    """RandomResizedCrop boxes on an S x S image, vectorised: the first of ``attempts`` draws that
    fits, else the central crop clamped to ``ratio`` (torchvision's fallback)."""
    area = size * size * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, attempts, generator=g))
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(n, attempts, generator=g)
    r = log_r.exp()
    w, h = (area * r).sqrt(), (area / r).sqrt()
    ok = (w <= size) & (h <= size)
    first = ok.float().argmax(1)
    w = w.gather(1, first[:, None]).squeeze(1)
    h = h.gather(1, first[:, None]).squeeze(1)
    found = ok.any(1)
    # the fallback of a square source is the full image (ratio 1 lies inside any sane range)
    w = torch.where(found, w, torch.full_like(w, float(size)))
    h = torch.where(found, h, torch.full_like(h, float(size)))
    x0 = torch.rand(n, generator=g) * (size - w)
    y0 = torch.rand(n, generator=g) * (size - h)
    return torch.stack([x0, y0, x0 + w, y0 + h], 1)


def sample_view_params(
    n: int, source_size: int, cfg: AugConfig, generator: torch.Generator | None = None
) -> ViewParams:
    """Draw one view's parameters for a batch of ``n`` square images of side ``source_size``."""
    g = generator
    box = sample_boxes(n, source_size, cfg.scale, cfg.ratio, g)
    flip = torch.rand(n, generator=g) < cfg.flip_p
    on = torch.rand(n, generator=g) < cfg.jitter_p
    factors = torch.stack(
        [
            _uniform(n, (max(0.0, 1 - cfg.brightness), 1 + cfg.brightness), g),
            _uniform(n, (max(0.0, 1 - cfg.contrast), 1 + cfg.contrast), g),
            _uniform(n, (max(0.0, 1 - cfg.saturation), 1 + cfg.saturation), g),
            _uniform(n, (-cfg.hue, cfg.hue), g),
        ],
        1,
    )
    identity = torch.tensor([1.0, 1.0, 1.0, 0.0])
    jitter = torch.where(on[:, None], factors, identity)
    order = torch.rand(n, 4, generator=g).argsort(1)
    gray = torch.rand(n, generator=g) < cfg.gray_p
    blur_on = torch.rand(n, generator=g) < cfg.blur_p
    sigma = torch.where(blur_on, _uniform(n, cfg.sigma, g), torch.zeros(n))
    sol = torch.rand(n, generator=g) < cfg.solarize_p
    return ViewParams(box, source_size, flip, jitter, order, gray, sigma, sol)


def crop(x: torch.Tensor, box: torch.Tensor, out_size: int, spatial_scale: float = 1.0) -> torch.Tensor:
    """Resample each sample's box to ``out_size`` square (bilinear, area-averaged by roi_align).

    ``spatial_scale`` maps image-pixel boxes onto a feature map: 1/8 for relu4_1 features, so the
    same box crops an image and its precomputed content features.
    """
    rois = torch.cat([torch.arange(x.shape[0], device=x.device, dtype=box.dtype)[:, None], box.to(x.device)], 1)
    return roi_align(x.float(), rois.to(torch.float32), (out_size, out_size), spatial_scale, -1, True)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = x.new_tensor(_GRAY)[None, :, None, None]
    return (x * w).sum(1, keepdim=True)


def _blend(a: torch.Tensor, b: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (f[:, None, None, None] * a + (1 - f[:, None, None, None]) * b).clamp(0, 1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    v = maxc
    delta = maxc - minc
    s = delta / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    d = torch.where(delta == 0, torch.ones_like(delta), delta)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta == 0, torch.zeros_like(h), (h / 6.0) % 1.0)
    return torch.stack([h, s, v], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = torch.stack([
        torch.stack([v, q, p, p, t, v], 1),
        torch.stack([t, v, v, q, p, p], 1),
        torch.stack([p, p, t, v, v, q], 1),
    ], 1)  # (B, 3, 6, H, W)
    return table.gather(2, i[:, None, None].expand(-1, 3, 1, -1, -1)).squeeze(2)


def _jitter_op(k: int, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    if k == 0:  # brightness
        return (x * f[:, None, None, None]).clamp(0, 1)
    if k == 1:  # contrast: blend with the mean grey level of the image
        return _blend(x, _gray(x).mean((2, 3), keepdim=True).expand_as(x), f)
    if k == 2:  # saturation: blend with the grey image
        return _blend(x, _gray(x).expand_as(x), f)
    hsv = _rgb_to_hsv(x)
    hsv = torch.stack([(hsv[:, 0] + f[:, None, None]) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
    return _hsv_to_rgb(hsv)


def colour_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """torchvision ColorJitter semantics with per-sample factors and per-sample op order.

    Each op runs only on the samples whose factor is not the identity at that position.
    """
    identity = factors.new_tensor([1.0, 1.0, 1.0, 0.0])
    x = x.clone()
    for pos in range(4):
        for k in range(4):
            idx = ((order[:, pos] == k) & (factors[:, k] != identity[k])).nonzero().flatten()
            if idx.numel():
                x[idx] = _jitter_op(k, x[idx], factors[idx, k])
    return x


def blur_kernel_size(out_size: int) -> int:
    """Odd kernel of about 10% of the image side (23 px at 224, as in SimCLR/BYOL)."""
    return 2 * int(out_size * 0.1 / 2) + 1


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample sigma (grouped conv, reflect padding)."""
    b, c, h, w = x.shape
    k = blur_kernel_size(h)
    r = torch.arange(k, device=x.device, dtype=x.dtype) - k // 2
    ker = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None].to(x.dtype) ** 2))
    ker = (ker / ker.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, k)
    y = x.reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (k // 2, k // 2, 0, 0), mode="reflect"), ker[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, k // 2, k // 2), mode="reflect"), ker[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


def photometric(x: torch.Tensor, p: ViewParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip, colour jitter, grayscale, blur and solarize of cropped views, each on its samples only.

    Also returns the (B, 3) per-channel mean change the colour jitter made: CASSLE's ``colour_diff``
    descriptor, which depends on the pixels and so can only be measured here, not sampled.
    """
    x = torch.where(p.flip[:, None, None, None], x.flip(-1), x)
    before = x.mean((2, 3))
    x = colour_jitter(x, p.jitter, p.jitter_order)
    shift = x.mean((2, 3)) - before
    g = p.grayscale.nonzero().flatten()
    if g.numel():
        x[g] = _gray(x[g]).expand(-1, 3, -1, -1)
    bl = (p.blur_sigma > 0).nonzero().flatten()
    if bl.numel():
        x[bl] = gaussian_blur(x[bl], p.blur_sigma[bl])
    s = p.solarize.nonzero().flatten()
    if s.numel():
        x[s] = torch.where(x[s] < 0.5, x[s], 1.0 - x[s])
    return x, shift


def apply_view(images: torch.Tensor, p: ViewParams, out_size: int) -> torch.Tensor:
    """A whole view without style transfer: crop to ``out_size``, then :func:`photometric`."""
    return photometric(crop(images, p.box, out_size), p)[0]


def normalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std normalisation: the input convention the checkpoint records for evaluation."""
    mean = x.new_tensor(IMAGENET_MEAN)[None, :, None, None]
    std = x.new_tensor(IMAGENET_STD)[None, :, None, None]
    return (x - mean) / std
