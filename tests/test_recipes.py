"""Small-data recipes and the narrow backbone: what `--recipe auto` picks, what a run records."""

from __future__ import annotations

import pytest
import torch
from train_helpers import small_config
from imagegen import write_image_folder

from sassl.atomic import atomic_torch_save
from sassl.backbone import backbone_record, build_backbone, load_backbone
from sassl.train.checkpoint import load_checkpoint
from sassl.train.loop import ConfigError, train
from sassl.train.methods import METHODS
from sassl.train.recipes import SMALL_BELOW, resolve_recipe


@pytest.mark.parametrize("method", sorted(METHODS))
def test_auto_picks_small_below_64_px_and_standard_at_imagenet_size(method: str) -> None:
    assert resolve_recipe("auto", method, SMALL_BELOW).name == "standard"
    assert resolve_recipe("auto", method, 224) == resolve_recipe("standard", method, 224)
    std = resolve_recipe("standard", method, 32)
    assert std.optim == METHODS[method].recipe and std.views == METHODS[method].views
    small = resolve_recipe("auto", method, SMALL_BELOW - 8)
    assert small.name == "small" and small.optim.optimizer == "sgd" and small.optim.warmup_epochs == 0
    assert all(v.blur_p == 0 for v in small.views)
    assert all(v.solarize_p == s.solarize_p and v.scale == s.scale for v, s in zip(small.views, METHODS[method].views))


def test_small_simclr_uses_temperature_half_and_unknown_names_are_refused() -> None:
    assert resolve_recipe("small", "simclr", 32).method_defaults == {"temperature": 0.5}
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_recipe("tiny", "simclr", 32)


def test_run_records_the_resolved_recipe_and_explicit_options_win(tmp_path) -> None:
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=4, size=24)
    cfg = small_config(tmp_path / "run", method="simclr", images=str(folder), style="none", steps=2, lr=None,
                       method_options={"proj_hidden": 32, "proj_dim": 16, "temperature": 0.2})
    train(cfg)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["config"]["recipe"] == "small"
    assert state["config"]["recipe_settings"]["optim"]["optimizer"] == "sgd"
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(5e-4)
    with pytest.raises(ConfigError, match="unknown --recipe"):
        train(small_config(tmp_path / "bad", images=str(folder), style="none", recipe="tiny"))


def test_narrow_resnet18_is_a_quarter_width_and_round_trips(tmp_path) -> None:
    net, dim = build_backbone("resnet18-narrow", small_stem=True)
    full, _ = build_backbone("resnet18", small_stem=True)
    n_params = sum(p.numel() for p in net.parameters())
    assert dim == 128 and net(torch.randn(2, 3, 32, 32)).shape == (2, 128)
    assert n_params * 12 < sum(p.numel() for p in full.parameters())
    assert net.conv1.kernel_size == (3, 3) and net.conv1.out_channels == 16
    atomic_torch_save(backbone_record("resnet18-narrow", True, net), tmp_path / "b.pt")
    loaded, ldim, info = load_backbone(tmp_path / "b.pt")
    x = torch.randn(2, 3, 32, 32)
    assert ldim == 128 and info["arch"] == "resnet18-narrow"
    assert torch.equal(loaded(x), net.eval()(x))
    plain, _ = build_backbone("resnet18-narrow")
    assert plain(torch.randn(1, 3, 64, 64)).shape == (1, 128)
