"""The parameter record's fixed layout, AugSelf's difference encoding worked out by hand, CASSLE's
descriptor, and the records a ViewMaker attaches to its views."""

import pytest
import torch

from sassl.style.block import SASSLParams
from sassl.train.augment import AugConfig, ViewParams
from sassl.train.cassle import DEFAULT_GROUPS
from sassl.train.record import COLUMNS, augself_targets, descriptor, view_record
from sassl.train.views import Batch, StyleConfig, ViewMaker

CFG = AugConfig()  # BYOL view 1: brightness/contrast 0.4, saturation 0.2, hue 0.1


def _params(box, flip, jitter, sigma, sassl=None):
    n = len(box)
    return ViewParams(torch.tensor(box, dtype=torch.float), 100, torch.tensor(flip), torch.tensor(jitter),
                      torch.arange(4).repeat(n, 1), torch.zeros(n, dtype=torch.bool), torch.tensor(sigma),
                      torch.zeros(n, dtype=torch.bool), sassl)


def _record(p):
    return view_record(p, CFG, torch.zeros(p.box.shape[0], 3))


def test_augself_differences_by_hand_flip_mirrors_centre_x():
    # view 1: box x 10..50, y 20..80 of a 100 px source (top .2, left .1, h .6, w .4), flipped,
    # jitter (1.2, 0.8, 1.1, 0.05), blur 1.5; view 2: x 40..100, y 0..50, not flipped, no jitter, no blur
    r1 = _record(_params([[10, 20, 50, 80]], [True], [[1.2, 0.8, 1.1, 0.05]], [1.5]))
    r2 = _record(_params([[40, 0, 100, 50]], [False], [[1.0, 1.0, 1.0, 0.0]], [0.0]))
    assert r1[0, :4].tolist() == pytest.approx([0.2, 0.1, 0.6, 0.4])
    # colour: (1.2-1)/0.8, (0.8-1)/0.8, (1.1-1)/0.4, 0.05/0.2; 0 when the jitter is not applied
    assert r1[0, 5:9].tolist() == pytest.approx([0.25, -0.25, 0.25, 0.25])
    assert r2[0, 5:9].tolist() == [0.0, 0.0, 0.0, 0.0]
    groups = ("crop", "color", "flip", "blur")
    d12, d21 = augself_targets(r1, r2, groups), augself_targets(r2, r1, groups)
    # centres (y, x): view 1 (0.5, 0.3), view 2 (0.25, 0.7); view 1 is flipped, so both x become 1 - x
    assert d12["crop"][0].tolist() == pytest.approx([0.5 - 0.25, 0.7 - 0.3, 0.6 - 0.5, 0.4 - 0.6])
    # the reverse order takes view 2's flip (none): no mirroring, as in the authors' extract_diff
    assert d21["crop"][0].tolist() == pytest.approx([0.25 - 0.5, 0.7 - 0.3, 0.5 - 0.6, 0.6 - 0.4])
    assert d12["color"][0].tolist() == pytest.approx([0.25, -0.25, 0.25, 0.25])
    assert d12["flip"].item() == 0.0 and augself_targets(r1, r1, ("flip",))["flip"].item() == 1.0
    assert d12["blur"].item() == pytest.approx(1.5) and d21["blur"].item() == pytest.approx(-1.5)


def test_style_columns_and_their_difference():
    sassl = SASSLParams(torch.tensor([True, False]), torch.tensor([0.2, 0.3]), torch.tensor([0.1, 0.25]),
                        torch.tensor([1, 0]))
    r1 = _record(_params([[0, 0, 100, 100]] * 2, [False] * 2, [[1.0, 1.0, 1.0, 0.0]] * 2, [0.0] * 2, sassl))
    r2 = _record(_params([[0, 0, 100, 100]] * 2, [False] * 2, [[1.0, 1.0, 1.0, 0.0]] * 2, [0.0] * 2))
    at = COLUMNS.index("style_applied")
    expected = torch.tensor([[1.0, 0.2, 0.1], [0.0, 0.0, 0.0]])  # zeros where not applied
    assert torch.allclose(r1[:, at:at + 3], expected)
    assert torch.equal(r2[:, at:at + 3], torch.zeros(2, 3))  # the view without style: zeros, same layout
    assert torch.allclose(augself_targets(r1, r2, ("style",))["style"], expected)


def test_cassle_descriptor_is_the_authors_13_columns_in_order():
    r = torch.arange(len(COLUMNS), dtype=torch.float)[None]
    d = descriptor(r, DEFAULT_GROUPS)
    names = ["crop_top", "crop_left", "crop_h", "crop_w", "brightness", "contrast", "saturation", "hue",
             "colour_diff_r", "colour_diff_g", "colour_diff_b", "blur_sigma", "grayscale"]
    assert d[0].tolist() == [float(COLUMNS.index(n)) for n in names]


def test_view_maker_records_both_views_and_the_colour_shift():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    cfg = AugConfig(jitter_p=1.0, brightness=0.8)
    maker = ViewMaker((cfg, AugConfig(jitter_p=0.0)), 16, StyleConfig("none"))
    b = maker(Batch(images, torch.arange(6)), g)
    assert b.rec1.shape == b.rec2.shape == (6, len(COLUMNS)) and torch.equal(b.labels, torch.arange(6))
    at = COLUMNS.index("colour_diff_r")
    assert b.rec1[:, at:at + 3].abs().sum() > 0  # the jitter moved the colour means
    assert b.rec2[:, at:at + 3].abs().max() == 0  # no jitter, no shift
    assert torch.equal(maker.render(Batch(images, torch.arange(6)), b.p1), b.v1)  # replay
