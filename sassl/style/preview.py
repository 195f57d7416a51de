"""Preview PNGs: what the stylizer and the SASSL augmentation do to real images.

Two grids, so a user can judge the augmentation before training with it:
``<out>.png``: a header row of style images, then one row per content image (the content, then its full
stylisation, alpha = beta = 1, with each style); ``<out>-sweep.png``: the SASSL output of the first content/style pair
for a range of alpha (rows) and beta (columns).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid

from sassl.atomic import atomic_open
from sassl.style.block import SASSLParams, apply_sassl
from sassl.style.stylizer import Stylizer

ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
BETAS = (0.1, 0.2, 0.3, 0.5, 1.0)
PAD = 2


def _full(n: int, alpha: torch.Tensor | float = 1.0, beta: torch.Tensor | float = 1.0) -> SASSLParams:
    """Parameters that apply the style to all ``n`` samples, with the given alpha and beta."""
    a, b = (torch.as_tensor(v, dtype=torch.float32).expand(n).clone() for v in (alpha, beta))
    return SASSLParams(torch.ones(n, dtype=torch.bool), a, b, torch.arange(n))


@torch.no_grad()
def style_grid(stylizer: Stylizer, contents: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """(3, H, W) grid: row 0 = [blank, styles...], then per content [content, stylised by each style]."""
    n_c, n_s = contents.shape[0], styles.shape[0]
    enc_c, s_codes = stylizer.encode(contents), stylizer.encode(styles).code
    tiles = [torch.ones_like(contents[0]), *styles]
    for i in range(n_c):
        content = enc_c.content[i : i + 1].expand(n_s, *enc_c.content.shape[1:])
        own = enc_c.code[i : i + 1].expand(n_s, *enc_c.code.shape[1:])
        image = contents[i : i + 1].expand(n_s, -1, -1, -1)
        tiles += [contents[i], *apply_sassl(image, content, own, s_codes, _full(n_s), stylizer)]
    return make_grid(torch.stack(tiles), nrow=n_s + 1, padding=PAD, pad_value=1.0)


@torch.no_grad()
def sweep_grid(
    stylizer: Stylizer,
    content: torch.Tensor,
    style: torch.Tensor,
    alphas: tuple[float, ...] = ALPHAS,
    betas: tuple[float, ...] = BETAS,
) -> torch.Tensor:
    """(3, H, W) grid of SASSL outputs: row i uses alphas[i], column j betas[j]."""
    a = torch.tensor(alphas).repeat_interleave(len(betas))
    b = torch.tensor(betas).repeat(len(alphas))
    n = a.numel()
    enc = stylizer.encode(content[None])
    s_code = stylizer.encode(style[None]).code
    expand = lambda t: t.expand(n, *t.shape[1:])  # noqa: E731
    out = apply_sassl(expand(content[None]), expand(enc.content), expand(enc.code), expand(s_code),
                      _full(n, a, b), stylizer)
    return make_grid(out, nrow=len(betas), padding=PAD, pad_value=1.0)


def save_png(grid: torch.Tensor, path: str | Path) -> None:
    """Write a (3, H, W) [0, 1] tensor as a PNG, atomically."""
    from PIL import Image

    arr = grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    with atomic_open(path, "wb") as f:
        Image.fromarray(arr).save(f, format="PNG")


def write_previews(stylizer: Stylizer, contents: torch.Tensor, styles: torch.Tensor, out: str | Path) -> tuple[Path, Path]:
    """Write both preview grids next to each other; returns their paths."""
    out = Path(out)
    sweep = out.with_name(out.stem + "-sweep.png")
    save_png(style_grid(stylizer, contents, styles), out)
    save_png(sweep_grid(stylizer, contents[0], styles[0]), sweep)
    return out, sweep
