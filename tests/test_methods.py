"""Each method learns on tiny generated data; momentum utilities behave as published."""

import pytest
import torch

from sassl.train.augment import METHOD_VIEWS, normalize
from sassl.backbone import build_backbone
from sassl.train.methods import build_method
from sassl.train.momentum import cosine_momentum, ema_update, make_target
from sassl.train.views import Batch, StyleConfig, ViewMaker

OPTIONS = {
    "simclr": {"proj_hidden": 64, "proj_dim": 32},
    "moco": {"proj_hidden": 64, "proj_dim": 32, "queue_size": 8, "momentum": 0.9},
    "byol": {"proj_hidden": 64, "proj_dim": 32},
}


def _images(n=8, size=24):
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    freq = torch.rand(n, 3, 2, generator=g) * 8
    img = torch.sin(freq[..., 0, None, None] * xx + freq[..., 1, None, None] * yy) * 0.5 + 0.5
    return (img * 255).to(torch.uint8)


@pytest.mark.parametrize("name", ["simclr", "moco", "byol"])
def test_method_loss_decreases_in_20_steps(name):
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet18", small_stem=True)
    method = build_method(name, backbone, dim, **OPTIONS[name])
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    maker = ViewMaker(METHOD_VIEWS[name], 16, StyleConfig("none"))
    batch = Batch(_images(), torch.full((8,), -1))
    gen = torch.Generator().manual_seed(1)
    losses = []
    for step in range(20):
        v1, v2, _, _ = maker(batch, gen)
        loss, feats = method(normalize(v1), normalize(v2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        method.after_step((step + 1) / 20)
        losses.append(loss.item())
        assert feats.shape == (8, dim) and not feats.requires_grad
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


def test_moco_queue_holds_the_latest_keys_in_order():
    backbone, dim = build_backbone("resnet18", small_stem=True)
    moco = build_method("moco", backbone, dim, proj_hidden=16, proj_dim=8, queue_size=6)
    x = torch.randn(4, 3, 8, 8)
    moco(x, x)
    assert int(moco.queue_ptr) == 4
    moco(x, x)
    assert int(moco.queue_ptr) == 2  # wrapped around a queue of 6
    assert torch.allclose(moco.queue.norm(dim=1), torch.ones(6), atol=1e-5)


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
    backbone, dim = build_backbone("resnet18")
    with pytest.raises(ValueError, match="byol.*moco.*simclr"):
        build_method("swav", backbone, dim)
