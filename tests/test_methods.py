"""Every registered method, plain and with AugSelf or CASSLE, without and with SASSL, trains through
the one training step; method options are validated; momentum utilities behave as published."""

import dataclasses
import warnings

import pytest
import torch

from sassl.style import StylizerSpec, load_stylizer
from sassl.train.augself import AugSelf, parse_augself
from sassl.train.cassle import DEFAULT_GROUPS, descriptor_width, parse_cassle
from sassl.train.methods import METHODS, build_method, method_options, split_key_values
from sassl.train.model import build_trainee
from sassl.train.momentum import cosine_momentum, ema_update, make_target
from sassl.train.record import augself_targets
from sassl.train.step import train_step
from sassl.train.views import Batch, StyleConfig, ViewMaker

NO_AUTOCAST = torch.autocast("cpu", enabled=False)
HEADS = {
    "plain": (None, ()),
    "augself": ({"crop": 0.5, "color": 0.5, "flip": 0.5, "blur": 0.5}, ()),
    "cassle": (None, DEFAULT_GROUPS + ("flip",)),
}


def tiny_options(name: str) -> dict:
    """Small widths for any registered method: every *_hidden/*_dim option 32; a MoCo queue of one batch
    and a fast key encoder (with the defaults, 20 steps only replace the random queue by real keys)."""
    out = {}
    for f in dataclasses.fields(METHODS[name].options):
        if f.name.endswith(("_hidden", "_dim")):
            out[f.name] = 32
        elif f.name == "queue_size":
            out[f.name] = 8
        elif f.name == "momentum":
            out[f.name] = 0.9
    return out


def _images(n=8, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    freq = torch.rand(n, 3, 2, generator=g) * 8
    img = torch.sin(freq[..., 0, None, None] * xx + freq[..., 1, None, None] * yy) * 0.5 + 0.5
    return (img * 255).to(torch.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny convolutions gain nothing from two, and lose a lot on a loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def source():
    """One batch as a bank would hold it for a random-weight AdaIN stylizer, shared by all cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizer = load_stylizer(StylizerSpec("adain", encoder_weights="random", decoder="random",
                                              allow_random_weights=True))
    images = _images()
    with torch.no_grad():
        encoded = stylizer.encode(images.float() / 255)
    return Batch(images, torch.arange(8) % 2, encoded.content, encoded.code), stylizer


def _run(name, heads, maker, batch, steps, lr=0.01, seed=0):
    """(initial state, trained trainee, step results) of ``steps`` calls of the training step."""
    torch.manual_seed(seed)
    trainee = build_trainee(name, "resnet18", True, 2, tiny_options(name), *heads)
    initial = {k: v.clone() for k, v in trainee.state_dict().items()}
    params = [p for p in trainee.ssl_modules().parameters() if p.requires_grad]
    opts = (torch.optim.SGD(params, lr=lr, momentum=0.9), torch.optim.Adam(trainee.probe.parameters()))
    gen = torch.Generator().manual_seed(seed + 1)
    results = [train_step(trainee, trainee, opts, maker(batch, gen), (i + 1) / steps, NO_AUTOCAST) for i in range(steps)]
    return initial, trainee, results


@pytest.mark.parametrize("style", ["none", "sassl"])
@pytest.mark.parametrize("heads", sorted(HEADS))
@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_and_head_combination_trains(source, name, heads, style):
    batch, stylizer = source
    augself, cassle = HEADS[heads]
    if style == "sassl":
        augself = {**augself, "style": 0.5} if augself else None
        cassle = cassle + ("style",) if cassle else ()
    mode = StyleConfig("in-batch", p=1.0) if style == "sassl" else StyleConfig("none")
    maker = ViewMaker(METHODS[name].views, 16, mode, stylizer if style == "sassl" else None)
    before, trainee, results = _run(name, (augself, cassle), maker, batch, steps=2)
    assert all(torch.isfinite(torch.tensor(r.loss)) for r in results)
    assert (results[-1].aux_loss > 0) == (augself is not None)
    after = trainee.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("method.backbone.") for k in changed)
    if augself:
        assert {k.split(".")[2] for k in changed if k.startswith("augself.heads.")} == set(augself)
    if cassle:
        assert any(k.startswith("method.projector.condition.") for k in changed)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_loss_decreases_in_20_steps(source, name):
    batch, _ = source
    maker = ViewMaker(METHODS[name].views, 16, StyleConfig("none"))
    _, _, results = _run(name, (None, ()), maker, batch, steps=20, lr=0.05)
    # from step 1: MoCo's first loss is against a random queue (easy negatives), not against real keys
    losses = [r.loss for r in results][1:]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


def test_cassle_projector_output_changes_when_only_the_descriptor_changes():
    torch.manual_seed(0)
    groups = DEFAULT_GROUPS
    for name in sorted(METHODS):
        method = build_method(name, torch.nn.Identity(), 16, tiny_options(name), descriptor_width(groups)).eval()
        h = torch.randn(4, 16)
        d = torch.rand(4, descriptor_width(groups))
        z = method.projector(h, d)
        assert torch.equal(z, method.projector(h, d.clone()))
        assert not torch.allclose(z, method.projector(h, d + 0.5)), name
        with pytest.raises(ValueError, match="needs each view's descriptor"):
            method.projector(h)


def test_augself_head_learns_the_crop_difference_well_below_predicting_zeros():
    """Generated images whose colour encodes position; features are the views pooled to 4 x 4 (a
    fixed, cheap stand-in for a backbone): the AugSelf crop head must beat predicting zeros."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    images = (torch.stack([xx, yy, 1 - xx], 0)[None].repeat(32, 1, 1, 1) * 255).to(torch.uint8)
    batch = Batch(images, torch.full((32,), -1))
    views = dataclasses.replace(METHODS["simclr"].views[0], jitter_p=0.0, gray_p=0.0, blur_p=0.0)
    maker = ViewMaker((views, views), 16, StyleConfig("none"))
    heads = AugSelf(48, {"crop": 1.0})
    opt = torch.optim.Adam(heads.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    zero_losses, head_losses = [], []
    for _ in range(150):
        b = maker(batch, gen)
        h1, h2 = (torch.nn.functional.adaptive_avg_pool2d(v, 4).flatten(1) for v in (b.v1, b.v2))
        t = torch.cat([augself_targets(b.rec1, b.rec2, ("crop",))["crop"], augself_targets(b.rec2, b.rec1, ("crop",))["crop"]])
        loss = heads(h1, h2, b.rec1, b.rec2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        zero_losses.append(float(t.pow(2).mean()))
        head_losses.append(loss.item())
    late_head, late_zero = sum(head_losses[-20:]) / 20, sum(zero_losses[-20:]) / 20
    assert late_head < 0.5 * late_zero, (late_head, late_zero)


def test_method_options_are_typed_and_validated():
    assert split_key_values(["proj_dim=64", " temperature = 0.5"]) == {"proj_dim": "64", "temperature": "0.5"}
    opts = method_options("simclr", {"proj_dim": "64", "temperature": "0.5"})
    assert opts.proj_dim == 64 and opts.temperature == 0.5
    with pytest.raises(ValueError, match="simclr has no such option; its options are proj_dim, proj_hidden, temperature"):
        method_options("simclr", {"queue_size": "8"})
    with pytest.raises(ValueError, match="moco expects int"):
        method_options("moco", {"queue_size": "many"})
    with pytest.raises(ValueError, match="must be > 0"):
        method_options("barlow", {"lambd": "-1"})
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        split_key_values(["proj_dim"])


def test_augself_and_cassle_groups_are_validated():
    assert parse_augself("crop,color", style=False) == {"crop": 0.5, "color": 0.5}
    assert parse_augself("crop:1,style:0.25", style=True) == {"crop": 1.0, "style": 0.25}
    for spec, msg in [("crop,rotation", "unknown group 'rotation'"), ("crop:-1", "must be > 0"),
                      ("crop:x", "not a number"), ("crop,crop", "named twice"), ("style", "no style with --style none")]:
        with pytest.raises(ValueError, match=msg):
            parse_augself(spec, style=False)
    assert parse_cassle("crop,color,color_diff,blur,grayscale", style=False) == DEFAULT_GROUPS
    assert descriptor_width(DEFAULT_GROUPS) == 13  # the authors' default descriptor
    with pytest.raises(ValueError, match="no style with --style none"):
        parse_cassle("crop,style", style=False)
    with pytest.raises(ValueError, match="unknown group 'hue'"):
        parse_cassle("crop,hue", style=True)


def test_moco_queue_holds_the_latest_keys_in_order():
    method = build_method("moco", torch.nn.Flatten(), 192, {"proj_hidden": 16, "proj_dim": 8, "queue_size": 6})
    x = torch.randn(4, 3, 8, 8)
    method(x, x)
    assert int(method.queue_ptr) == 4
    method(x, x)
    assert int(method.queue_ptr) == 2  # wrapped around a queue of 6
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(6), atol=1e-5)


def test_ema_update_and_cosine_schedule():
    online = torch.nn.Linear(2, 2)
    target = make_target(online)
    assert not any(p.requires_grad for p in target.parameters())
    with torch.no_grad():
        online.weight.add_(1.0)
    before = target.weight.clone()
    ema_update(target, online, 0.75)
    assert torch.allclose(target.weight, 0.75 * before + 0.25 * online.weight)
    assert cosine_momentum(0.996, 0.0) == pytest.approx(0.996)
    assert cosine_momentum(0.996, 0.5) == pytest.approx(0.998)
    assert cosine_momentum(0.996, 1.0) == pytest.approx(1.0)


def test_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="barlow.*byol.*moco.*simclr.*simsiam"):
        build_method("swav", torch.nn.Identity(), 8)
