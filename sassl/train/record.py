"""The parameter record of a view: one fixed (B, 19) float layout that AugSelf and CASSLE read.

Both views of a pair get the same columns, whatever their augmentation distributions, so a head
never depends on which view it sees; a view without style (view 2, or ``--style none``) has zeros
in the style columns. The columns hold what the authors' transforms return (Lee et al. 2021,
hankook/AugSelf ``transforms.py``; Przewiezlikowski et al. 2023, gmum/CASSLE):

- crop: top, left, height, width of the box as fractions of the source side (AugSelf's
  ``[i/H, j/W, h/H, w/W]``);
- flip: 1 when mirrored;
- colour: (brightness - 1), (contrast - 1), (saturation - 1) and hue, each divided by the width of its
  sampling range; 0 when the jitter is not applied (AugSelf's ``_extract_w``);
- colour_diff: the per-channel mean pixel change the jitter made (CASSLE), measured while rendering;
- grayscale, blur (sigma, 0 when not blurred), solarize;
- style: SASSL's applied, alpha and beta, alpha and beta zero where the style was not applied;
- generated: 1 when the view starts from a generated copy (``--generated``; only view 2 ever does).

Groups are named slices of the record; :func:`augself_targets` turns two records into AugSelf's
regression/classification targets, :func:`descriptor` picks CASSLE's absolute per-view columns.
"""

from __future__ import annotations

import torch

from sassl.train.augment import AugConfig, ViewParams

COLUMNS: tuple[str, ...] = (
    "crop_top", "crop_left", "crop_h", "crop_w",
    "flip",
    "brightness", "contrast", "saturation", "hue",
    "colour_diff_r", "colour_diff_g", "colour_diff_b",
    "grayscale", "blur_sigma", "solarize",
    "style_applied", "style_alpha", "style_beta",
    "generated",
)
_AT = {name: i for i, name in enumerate(COLUMNS)}
# group -> (first column, number of columns)
GROUPS: dict[str, tuple[int, int]] = {
    "crop": (_AT["crop_top"], 4),
    "flip": (_AT["flip"], 1),
    "color": (_AT["brightness"], 4),
    "color_diff": (_AT["colour_diff_r"], 3),
    "grayscale": (_AT["grayscale"], 1),
    "blur": (_AT["blur_sigma"], 1),
    "solarize": (_AT["solarize"], 1),
    "style": (_AT["style_applied"], 3),
    "generated": (_AT["generated"], 1),
}


def _columns(rec: torch.Tensor, group: str) -> torch.Tensor:
    start, n = GROUPS[group]
    return rec[:, start : start + n]


def _jitter_widths(cfg: AugConfig) -> tuple[float, float, float, float]:
    """Widths of the four jitter ranges, as :func:`sample_view_params` draws them."""
    return (
        1 + cfg.brightness - max(0.0, 1 - cfg.brightness),
        1 + cfg.contrast - max(0.0, 1 - cfg.contrast),
        1 + cfg.saturation - max(0.0, 1 - cfg.saturation),
        2 * cfg.hue,
    )


def view_record(p: ViewParams, cfg: AugConfig, colour_shift: torch.Tensor) -> torch.Tensor:
    """The (B, 19) record of one view (``cfg`` is the distribution ``p`` was drawn from, for the
    colour normalisation; ``colour_shift`` comes from :func:`sassl.train.augment.photometric`)."""
    device = colour_shift.device
    box = p.box.to(device).float() / float(p.source_size)
    x0, y0, x1, y1 = box.unbind(1)
    offset = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device)
    widths = torch.tensor(_jitter_widths(cfg), device=device)
    safe = torch.where(widths > 0, widths, torch.ones_like(widths))
    colour = torch.where(widths > 0, (p.jitter.to(device).float() - offset) / safe, torch.zeros_like(safe))
    n = box.shape[0]
    if p.sassl is None:
        style = torch.zeros(n, 3, device=device)
    else:
        on = p.sassl.applied.to(device).float()
        style = torch.stack([on, p.sassl.alpha.to(device).float() * on, p.sassl.beta.to(device).float() * on], 1)
    generated = torch.zeros(n, 1, device=device) if p.generated is None else p.generated.to(device).float()[:, None]
    return torch.cat([
        torch.stack([y0, x0, y1 - y0, x1 - x0], 1),
        p.flip.to(device).float()[:, None],
        colour,
        colour_shift.float(),
        p.grayscale.to(device).float()[:, None],
        p.blur_sigma.to(device).float()[:, None],
        p.solarize.to(device).float()[:, None],
        style,
        generated,
    ], 1)


def descriptor(rec: torch.Tensor, groups: tuple[str, ...]) -> torch.Tensor:
    """CASSLE's absolute per-view descriptor: the named groups' columns, in the given order."""
    return torch.cat([_columns(rec, g) for g in groups], 1)


def augself_targets(rec1: torch.Tensor, rec2: torch.Tensor, groups: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """What AugSelf predicts from (view 1, view 2) features, encoded as the authors' ``extract_diff``:

    - crop: (centre_y, centre_x, h, w) of view 1 minus view 2's, where both centres' x is mirrored
      (1 - x) when *view 1* is flipped (the authors' code mirrors both with the first view's flip);
    - color, blur, style: view 1's columns minus view 2's;
    - flip: 1 when both views have the same flip (binary classification).
    """
    out: dict[str, torch.Tensor] = {}
    for g in groups:
        if g == "crop":
            c1, c2 = _columns(rec1, "crop"), _columns(rec2, "crop")
            centre1, centre2 = c1[:, :2] + c1[:, 2:] / 2, c2[:, :2] + c2[:, 2:] / 2
            flipped = _columns(rec1, "flip")[:, 0] > 0.5
            mirror = torch.stack([torch.zeros_like(flipped), flipped], 1)
            centre1 = torch.where(mirror, 1 - centre1, centre1)
            centre2 = torch.where(mirror, 1 - centre2, centre2)
            out[g] = torch.cat([centre1 - centre2, c1[:, 2:] - c2[:, 2:]], 1)
        elif g == "flip":
            out[g] = (_columns(rec1, "flip") == _columns(rec2, "flip")).float()
        else:
            out[g] = _columns(rec1, g) - _columns(rec2, g)
    return out
