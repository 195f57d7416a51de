"""A PNG of the views a run trains on, written at its start, so a bad pipeline is seen at once.

Rows, each labelled: view 1 without style, view 1 with SASSL as trained (same crop and colour, the
sampled alpha and beta, and the probability p: some columns stay plain), view 1 at full strength
(alpha = beta = 1, always applied: what the stylizer does before alpha and beta soften it), view 2
(with ``--generated``, from a generated copy where drawn; the label counts them).
Tiles are enlarged to at least ``MIN_TILE`` px so that 32 px views can be seen.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from sassl.atomic import atomic_write_bytes
from sassl.train.views import Batch, ViewMaker

MIN_TILE = 96
LABEL_W = 190


def _rows(maker: ViewMaker, batch: Batch, generator: torch.Generator, n: int) -> list[tuple[str, torch.Tensor]]:
    available = batch.gen_view >= 0 if batch.gen_view is not None else None
    p1, p2 = maker.sample(batch.images.shape[0], batch.images.shape[-1], generator, available)
    rows = [("view 1, no style", maker.render(batch, p1.without_style()))]
    if p1.sassl is not None:
        s = maker.style
        rows.append((f"view 1 + SASSL (p={s.p:g}, alpha~U{tuple(s.alpha)}, beta~U{tuple(s.beta)})",
                     maker.render(batch, p1)))
        one = torch.ones_like(p1.sassl.alpha)
        full = replace(p1.sassl, applied=torch.ones_like(p1.sassl.applied), alpha=one, beta=one)
        rows.append(("view 1, full-strength style (alpha=beta=1)", maker.render(batch, replace(p1, sassl=full))))
    gen = "" if p2.generated is None else f" (generated copy with p={maker.gen_p:g}: {int(p2.generated[:n].sum())} of {n})"
    rows.append(("view 2" + gen, maker.render(batch, p2)))
    return [(name, r[:n].float().cpu().clamp(0, 1)) for name, r in rows]


@torch.no_grad()
def write_views_png(path: Path, maker: ViewMaker, batch: Batch, generator: torch.Generator, count: int = 8) -> None:
    """Labelled rows of the first ``count`` samples (see the module docstring), atomically."""
    n = min(count, batch.images.shape[0])
    rows = _rows(maker, batch, generator, n)
    side = rows[0][1].shape[-1]
    tile = max(MIN_TILE, side)
    pad = 4
    img = Image.new("RGB", (LABEL_W + n * (tile + pad), len(rows) * (tile + pad) + pad), "white")
    draw, font = ImageDraw.Draw(img), ImageFont.load_default()
    for ri, (name, views) in enumerate(rows):
        big = F.interpolate(views, size=(tile, tile), mode="nearest") if tile != side else views
        y = pad + ri * (tile + pad)
        words, line, lines = name.split(), "", []
        for w in words:  # wrap the label to the label column
            if draw.textlength(f"{line} {w}", font=font) > LABEL_W - 10 and line:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        draw.multiline_text((4, y + 4), "\n".join(lines + [line]), fill="black", font=font)
        for ci in range(n):
            arr = (big[ci].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            img.paste(Image.fromarray(arr), (LABEL_W + ci * (tile + pad), y))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
