"""Preview PNGs: what the stylizer and the SASSL augmentation do to real images.

Two grids, so a user can judge the augmentation before training with it:
``<out>.png``: a header row of style images, then one row per content image (the content, then its full
AdaIN stylisation with each style); ``<out>-sweep.png``: the SASSL output of the first content/style pair
for a range of alpha (rows) and beta (columns).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import make_grid

from sassl.atomic import atomic_open
from sassl.style.adain import style_stats
from sassl.style.block import SASSLParams, apply_sassl
from sassl.style.decoder import Decoder
from sassl.style.vgg import VGGEncoder

ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
BETAS = (0.1, 0.2, 0.3, 0.5, 1.0)
PAD = 2


@torch.no_grad()
def style_grid(encoder: VGGEncoder, decoder: Decoder, contents: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """(3, H, W) grid: row 0 = [blank, styles...], then per content [content, stylised by each style]."""
    n_c, n_s = contents.shape[0], styles.shape[0]
    f_c = encoder(contents)
    s_mean, s_std = style_stats(encoder(styles))
    tiles = [torch.ones_like(contents[0]), *styles]
    for i in range(n_c):
        params = SASSLParams(
            torch.ones(n_s, dtype=torch.bool), torch.ones(n_s), torch.ones(n_s), torch.arange(n_s)
        )
        stylised = apply_sassl(contents[i : i + 1].expand(n_s, -1, -1, -1), f_c[i : i + 1].expand(n_s, -1, -1, -1), s_mean, s_std, params, decoder)
        tiles += [contents[i], *stylised]
    return make_grid(torch.stack(tiles), nrow=n_s + 1, padding=PAD, pad_value=1.0)


@torch.no_grad()
def sweep_grid(
    encoder: VGGEncoder,
    decoder: Decoder,
    content: torch.Tensor,
    style: torch.Tensor,
    alphas: tuple[float, ...] = ALPHAS,
    betas: tuple[float, ...] = BETAS,
) -> torch.Tensor:
    """(3, H, W) grid of SASSL outputs: row i uses alphas[i], column j betas[j]."""
    a = torch.tensor(alphas).repeat_interleave(len(betas))
    b = torch.tensor(betas).repeat(len(alphas))
    n = a.numel()
    params = SASSLParams(torch.ones(n, dtype=torch.bool), a, b, torch.zeros(n, dtype=torch.long))
    f_c = encoder(content[None]).expand(n, -1, -1, -1)
    s_mean, s_std = style_stats(encoder(style[None]))
    out = apply_sassl(content[None].expand(n, -1, -1, -1), f_c, s_mean.expand(n, -1), s_std.expand(n, -1), params, decoder)
    return make_grid(out, nrow=len(betas), padding=PAD, pad_value=1.0)


def save_png(grid: torch.Tensor, path: str | Path) -> None:
    """Write a (3, H, W) [0, 1] tensor as a PNG, atomically."""
    from PIL import Image

    arr = grid.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    with atomic_open(path, "wb") as f:
        Image.fromarray(arr).save(f, format="PNG")


def write_previews(
    encoder: VGGEncoder, decoder: Decoder, contents: torch.Tensor, styles: torch.Tensor, out: str | Path
) -> tuple[Path, Path]:
    """Write both preview grids next to each other; returns their paths."""
    out = Path(out)
    sweep = out.with_name(out.stem + "-sweep.png")
    save_png(style_grid(encoder, decoder, contents, styles), out)
    save_png(sweep_grid(encoder, decoder, contents[0], styles[0]), sweep)
    return out, sweep
