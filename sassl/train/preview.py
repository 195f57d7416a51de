"""A PNG of the views a run trains on, written at its start, so a bad pipeline is seen at once."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torchvision.utils import save_image

from sassl.atomic import atomic_write_bytes
from sassl.train.views import Batch, ViewMaker


@torch.no_grad()
def write_views_png(path: Path, maker: ViewMaker, batch: Batch, generator: torch.Generator, count: int = 8) -> None:
    """Rows: view 1 without style, view 1 with style (same crop and colour), view 2 (generated copies included)."""
    n = min(count, batch.images.shape[0])
    available = batch.gen_view >= 0 if batch.gen_view is not None else None
    p1, p2 = maker.sample(batch.images.shape[0], batch.images.shape[-1], generator, available)
    rows = [maker.render(batch, p1.without_style()), maker.render(batch, p1), maker.render(batch, p2)]
    grid = torch.cat([r[:n].float().cpu() for r in rows])
    buf = io.BytesIO()
    save_image(grid, buf, format="png", nrow=n, padding=2)
    atomic_write_bytes(path, buf.getvalue())
