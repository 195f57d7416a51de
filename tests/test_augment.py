"""Device augmentations: parameters replay exactly, ops match torchvision, crops align with features."""

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from sassl.train.augment import (
    apply_view,
    blur_kernel_size,
    colour_jitter,
    crop,
    gaussian_blur,
    sample_boxes,
    sample_view_params,
)
from sassl.train.methods import METHODS
from sassl.train.record import COLUMNS, view_record


def _record(p, cfg):
    return view_record(p, cfg, torch.zeros(p.box.shape[0], 3))


def _images(n=4, size=40, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_parameters_replay_to_identical_views(method):
    x = _images()
    for cfg in METHODS[method].views:
        p = sample_view_params(4, 40, cfg, torch.Generator().manual_seed(3))
        again = sample_view_params(4, 40, cfg, torch.Generator().manual_seed(3))
        assert torch.equal(_record(p, cfg), _record(again, cfg))
        assert torch.equal(apply_view(x, p, 24), apply_view(x, again, 24))
        other = sample_view_params(4, 40, cfg, torch.Generator().manual_seed(4))
        assert not torch.equal(apply_view(x, p, 24), apply_view(x, other, 24))


def test_boxes_respect_scale_ratio_and_bounds():
    box = sample_boxes(2000, 64, (0.2, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    area = w * h / 64**2
    assert (box[:, :2] >= 0).all() and (box[:, 2:] <= 64 + 1e-4).all()
    found = area < 1 - 1e-6  # draws that were accepted (the fallback is the whole image)
    assert (area[found] >= 0.2 - 1e-5).all()
    assert ((w / h)[found] >= 3 / 4 - 1e-4).all() and ((w / h)[found] <= 4 / 3 + 1e-4).all()


def test_crop_box_maps_pixels_and_stride8_features_identically():
    x = _images(1, 32)
    feats = torch.arange(16.0).reshape(1, 1, 4, 4)
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    assert torch.allclose(crop(x, box, 16), x[:, :, 8:24, 8:24], atol=1e-6)
    assert torch.allclose(crop(feats, box, 2, 1 / 8), feats[:, :, 1:3, 1:3], atol=1e-6)


def test_colour_jitter_matches_torchvision_per_sample():
    x = _images(3, 16)
    factors = torch.tensor([[1.3, 0.7, 1.2, 0.05], [0.8, 1.4, 0.5, -0.1], [1.0, 1.0, 1.0, 0.0]])
    order = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]])
    got = colour_jitter(x, factors, order)
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    for i in range(3):
        ref = x[i]
        for k in order[i].tolist():
            ref = ops[k](ref, float(factors[i, k]))
        assert torch.allclose(got[i], ref, atol=1e-4), i
    assert torch.equal(got[2], x[2])  # identity factors leave the sample untouched


def test_blur_matches_torchvision_with_per_sample_sigma():
    x = _images(2, 40)
    sigma = torch.tensor([0.5, 1.7])
    k = blur_kernel_size(40)
    got = gaussian_blur(x, sigma)
    for i in range(2):
        ref = TF.gaussian_blur(x[i], [k, k], [float(sigma[i])] * 2)
        assert torch.allclose(got[i], ref, atol=1e-5)


def test_byol_views_are_asymmetric_and_the_record_carries_them():
    v1, v2 = METHODS["byol"].views
    g = torch.Generator().manual_seed(0)
    p1, p2 = sample_view_params(500, 32, v1, g), sample_view_params(500, 32, v2, g)
    assert (p1.blur_sigma > 0).all() and not p1.solarize.any()
    assert 0.03 < (p2.blur_sigma > 0).float().mean() < 0.2 and 0.1 < p2.solarize.float().mean() < 0.3
    m = _record(p2, v2)
    assert m.shape == (500, len(COLUMNS))
    assert torch.equal(m[:, COLUMNS.index("solarize")], p2.solarize.float())
    assert torch.equal(m[:, COLUMNS.index("flip")], p2.flip.float())
    assert (m[:, COLUMNS.index("style_applied"):] == 0).all()  # no style: zeros in the fixed layout


def test_sassl_views_replay_and_style_changes_only_view_one():
    import warnings

    from sassl.style import StylizerSpec, load_stylizer
    from sassl.train.views import Batch, StyleConfig, ViewMaker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizer = load_stylizer(StylizerSpec("adain", encoder_weights="random", decoder="random", allow_random_weights=True))
    images = (_images(4, 32) * 255).to(torch.uint8)
    encoded = stylizer.encode(images.float() / 255)
    batch = Batch(images, torch.full((4,), -1), encoded.content, encoded.code)
    maker = ViewMaker(METHODS["moco"].views, 16, StyleConfig("in-batch", p=1.0), stylizer)
    p1, p2 = maker.sample(4, 32, torch.Generator().manual_seed(0))
    assert p1.sassl is not None and p1.sassl.applied.all() and p2.sassl is None
    style = _record(p1, maker.views[0])[:, COLUMNS.index("style_applied"):COLUMNS.index("style_beta") + 1]
    assert torch.equal(style, torch.stack([torch.ones(4), p1.sassl.alpha, p1.sassl.beta], 1))
    styled = maker.render(batch, p1)
    assert torch.equal(styled, maker.render(batch, p1))  # replay
    plain = maker.render(batch, p1.without_style())
    assert not torch.allclose(styled, plain)
    assert torch.equal(plain, apply_view(images.float() / 255, p1, 16))  # same crop and colour


def test_decode_scale_decodes_a_smaller_crop_and_keeps_the_view_size() -> None:
    """With decode_scale 0.5 the decoder sees half-size features; the view keeps its size and replays."""
    import torch
    from torch import nn

    from sassl.style import AdaINStylizer, Decoder
    from sassl.style.adain import stats_code
    from sassl.weights import seeded_he_init
    from sassl.train.views import Batch, StyleConfig, ViewMaker

    seen: list[tuple[int, ...]] = []

    class Recording(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dec = Decoder()
            seeded_he_init(self.dec.net)  # an output that varies (PyTorch's default init decodes to ~0)

        def forward(self, f: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(f.shape[-2:]))
            return self.dec(f)

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g)
    feats = torch.rand(4, 512, 8, 8, generator=g)
    batch = Batch(images, torch.zeros(4, dtype=torch.long), feats, stats_code(feats))
    stylizer = AdaINStylizer(None, Recording(), "test", "test")
    outs = {}
    for scale in (1.0, 0.5):
        maker = ViewMaker(METHODS["simclr"].views, 64, StyleConfig("in-batch", p=1.0, decode_scale=scale), stylizer)
        views = maker(batch, torch.Generator().manual_seed(1))
        v1, v2, p1 = views.v1, views.v2, views.p1
        assert v1.shape == v2.shape == (4, 3, 64, 64)
        assert torch.equal(maker.render(batch, p1), v1)
        outs[scale] = v1
    assert seen[0] == (8, 8) and seen[-1] == (4, 4)
    assert not torch.equal(outs[1.0], outs[0.5])


def test_crops_below_the_stylizers_minimum_are_rendered_at_the_minimum() -> None:
    """Ghiasi's transformer needs 5 px: a 16 px view at --decode-scale 0.1 renders at 5 px, never crashes."""
    from sassl.style import StylizerSpec, load_stylizer
    from sassl.train.views import Batch, StyleConfig, ViewMaker

    stylizer = load_stylizer(StylizerSpec("ghiasi"))
    assert StyleConfig(decode_scale=0.1).decode_size(16, stylizer.content_stride, stylizer.min_size) == stylizer.min_size
    images = (_images(2, 24) * 255).to(torch.uint8)
    batch = Batch(images, torch.full((2,), -1), None, stylizer.encode(images.float() / 255).code)
    maker = ViewMaker(METHODS["simclr"].views, 16, StyleConfig("in-batch", p=1.0, decode_scale=0.1), stylizer)
    views = maker(batch, torch.Generator().manual_seed(0))
    v1, p1 = views.v1, views.p1
    assert v1.shape == (2, 3, 16, 16) and torch.isfinite(v1).all()
    assert not torch.equal(v1, maker.render(batch, p1.without_style()))
