"""Training runs end to end on tiny data: banks and images, resume, faults, CLI errors."""

import struct
import warnings

import pytest
import torch
from click.testing import CliRunner
from imagegen import image_bytes, write_image_folder, write_shard
from train_helpers import content_bank, make_bank, small_config

from sassl.bank.reader import BankError
from sassl.cli import main
from sassl.style.decoder import Decoder, save_decoder
from sassl.backbone import load_backbone
from sassl.train.checkpoint import load_checkpoint
from sassl.train.run_dir import RunDirError
from sassl.train.loop import ConfigError, TrainingDiverged, train
from sassl.train.metrics import read_metrics

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return content_bank(tmp_path_factory.mktemp("data"))


def test_resumed_run_reproduces_the_uninterrupted_losses(bank, tmp_path):
    full = train(small_config(tmp_path / "full", bank=str(bank), style="in-batch", steps=6))
    part = train(small_config(tmp_path / "cut", bank=str(bank), style="in-batch", steps=6, stop_after=3))
    assert part.steps == 3 and load_checkpoint(tmp_path / "cut" / "last.pt")["batch_in_epoch"] == 3
    resumed = train(small_config(tmp_path / "cut", bank=str(bank), style="in-batch", steps=6, resume=True))
    assert resumed.steps == 6
    assert resumed.losses == pytest.approx(full.losses[3:], rel=1e-5, abs=1e-6)
    logged = [r["loss"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl")]
    assert logged == pytest.approx(full.losses, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("method, heads", [
    ("simsiam", {"augself": "crop,color,flip:1,style:0.5"}),
    ("byol", {"cassle": "crop,color,color_diff,blur,grayscale,style"}),
])
def test_augself_and_cassle_runs_resume_exactly_and_keep_heads_out_of_the_backbone(bank, tmp_path, method, heads):
    opts = {"proj_hidden": 32, "proj_dim": 16}
    cfg = lambda out, **kw: small_config(out, method=method, bank=str(bank), style="in-batch", steps=4,  # noqa: E731
                                         method_options=opts, **heads, **kw)
    full = train(cfg(tmp_path / "full"))
    train(cfg(tmp_path / "cut", stop_after=2))
    resumed = train(cfg(tmp_path / "cut", resume=True))
    assert resumed.losses == pytest.approx(full.losses[2:], rel=1e-5, abs=1e-6)
    state = load_checkpoint(tmp_path / "full" / "last.pt")
    if "augself" in heads:
        assert {k.split(".")[1] for k in state["augself"]} == {"crop", "color", "flip", "style"}
        assert read_metrics(tmp_path / "full" / "metrics.jsonl")[-1]["aux_loss"] > 0
    else:
        assert any(k.startswith("projector.condition.") for k in state["method"])
        assert any(k.startswith("target_projector.condition.") for k in state["method"])
    assert not any("projector" in k or "augself" in k or "condition" in k for k in state["backbone_state"])
    net, dim, info = load_backbone(tmp_path / "full" / "last.pt")  # what sassl eval reads: the backbone only
    assert info["arch"] == "resnet18" and dim == 512
    other = {"augself": None, "cassle": "crop"} if "augself" in heads else {"cassle": "crop,color"}
    with pytest.raises(RunDirError, match="settings that differ from the run's config.json: .*cassle: "):
        train(small_config(tmp_path / "cut", method=method, bank=str(bank), style="in-batch", steps=6,
                           method_options=opts, resume=True, **{**heads, **other}))


def test_bank_run_with_style_bank_writes_views_metrics_and_checkpoints(bank, tmp_path):
    styles = make_bank(tmp_path / "styles", write_image_folder(tmp_path / "art", 1, 4, 32, flat=True), style_only=True)
    out = tmp_path / "run"
    summary = train(small_config(out, method="simclr", bank=str(bank), style=f"bank:{styles}", epochs=1,
                                 method_options={"proj_hidden": 32, "proj_dim": 16}))
    assert summary.steps == 4  # 16 samples / batch 4
    assert (out / "views.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", (out / "views.png").read_bytes()[16:24])
    assert height > width / 4 * 2  # three rows of views
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["probe_acc"] is not None and r["images_per_s"] > 0 for r in rows)
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("step,epoch,loss,lr")
    net, dim, info = load_backbone(out / "ckpt-epoch1.pt")
    assert info["arch"] == "resnet18" and info["small_stem"] is True and dim == 512


def test_decoder_for_another_encoder_is_refused_before_training(bank, tmp_path):
    dec_path = tmp_path / "decoder.pth"
    save_decoder(Decoder(), dec_path, encoder_fingerprint="0123456789abcdef")
    with pytest.raises(BankError, match="bank made by stylizer adain .* this run uses adain 0123456789abcdef"):
        train(small_config(tmp_path / "run", bank=str(bank), decoder=str(dec_path), steps=2))
    assert not (tmp_path / "run").exists()


def test_ghiasi_bank_trains_in_batch_and_refuses_a_style_bank_of_another_stylizer(tmp_path):
    """The default stylizer end to end: a Ghiasi bank (codes only), in-batch styles, no predictor in the loop."""
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=4, size=32)
    bank = make_bank(tmp_path / "bank", folder, stylizer="ghiasi")
    out = tmp_path / "run"
    summary = train(small_config(out, bank=str(bank), stylizer="ghiasi", decoder=None, style="in-batch", steps=2))
    assert summary.steps == 2 and summary.final_loss is not None and (out / "views.png").exists()
    adain_styles = make_bank(tmp_path / "styles", write_image_folder(tmp_path / "art", 1, 4, 32, flat=True),
                             style_only=True)
    with pytest.raises(BankError, match="bank made by stylizer adain .* this run uses ghiasi"):
        train(small_config(tmp_path / "x", bank=str(bank), stylizer="ghiasi", style=f"bank:{adain_styles}", steps=1))
    with pytest.raises(BankError, match="bank made by stylizer ghiasi .* this run uses adain"):
        train(small_config(tmp_path / "x", bank=str(bank), style="in-batch", steps=1))
    assert not (tmp_path / "x").exists()


def test_image_shards_baseline_skips_and_counts_corrupt_items(tmp_path):
    good = [(f"s{i:02d}", image_bytes(i, 32), i % 2) for i in range(8)]
    write_shard(tmp_path / "d-000.tar", good[:4] + [("bad", b"not a jpeg", 0)])
    write_shard(tmp_path / "d-001.tar", good[4:])
    (tmp_path / "d-002.tar").write_bytes(b"\x00garbage" * 100)  # unreadable shard
    out = tmp_path / "run"
    summary = train(small_config(out, method="byol", images=str(tmp_path / "d-{000..002}.tar"), style="none",
                                 load_size=24, steps=2, method_options={"proj_hidden": 32, "proj_dim": 16}))
    assert summary.steps == 2
    assert summary.skipped == 2  # the corrupt image and the unreadable shard, once each
    assert read_metrics(out / "metrics.jsonl")[-1]["skipped"] == 2


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    folder = write_image_folder(tmp_path / "img", classes=2, per_class=8, size=32)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss is (nan|inf).*last\.pt"):
        train(small_config(out, method="simclr", images=str(folder), style="none", steps=40, ckpt_every=1,
                           lr=1e30, method_options={"proj_hidden": 32, "proj_dim": 16}))
    state = load_checkpoint(out / "last.pt")
    assert all(torch.isfinite(v).all() for v in state["backbone_state"].values() if v.is_floating_point())


def test_online_style_from_image_folder_and_bad_combinations(tmp_path):
    folder = write_image_folder(tmp_path / "img", classes=2, per_class=4, size=32)
    summary = train(small_config(tmp_path / "run", images=str(folder), style="online", steps=1))
    assert summary.steps == 1 and summary.final_loss is not None
    with pytest.raises(ConfigError, match="needs precomputed features"):
        train(small_config(tmp_path / "x", images=str(folder), style="in-batch", steps=1))
    with pytest.raises(ConfigError, match="needs --decoder"):
        train(small_config(tmp_path / "x", images=str(folder), style="online", decoder=None, steps=1))
    with pytest.raises(ConfigError, match="unknown --style"):
        train(small_config(tmp_path / "x", images=str(folder), style="wikiart", steps=1))


def test_cli_errors_are_one_clear_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["train", "--method", "swav", "--images", "x", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "'swav' is not one of 'barlow', 'byol', 'moco', 'simclr', 'simsiam'" in res.output
    res = runner.invoke(main, ["train", "--method", "moco", "--bank", str(tmp_path / "nope"), "--out", str(tmp_path / "r"),
                               "--decoder", "random", "--allow-random-weights"])
    assert res.exit_code == 1 and "bank directory not found" in res.output
    folder = write_image_folder(tmp_path / "img", classes=1, per_class=2, size=32)
    res = runner.invoke(main, ["train", "--method", "moco", "--images", str(folder), "--out", str(tmp_path / "r"),
                               "--style", "online", "--stylizer", "adain", "--decoder", "random"])
    assert res.exit_code == 1 and "--allow-random-weights" in res.output


def test_cli_refuses_bad_method_options_and_head_groups_before_training(tmp_path):
    folder = write_image_folder(tmp_path / "img", classes=1, per_class=4, size=32)
    base = ["train", "--images", str(folder), "--out", str(tmp_path / "r"), "--style", "none", "--arch", "resnet18",
            "--image-size", "16", "--batch-size", "2", "--steps", "1", "--workers", "0"]
    cases = [
        (["--method", "simclr", "--method-opt", "queue_size=8"], "simclr has no such option; its options are"),
        (["--method", "moco", "--method-opt", "queue_size=lots"], "moco expects int"),
        (["--method", "moco", "--method-opt", "queue_size"], "expected KEY=VALUE"),
        (["--method", "byol", "--augself", "crop,rotation"], "unknown group 'rotation'"),
        (["--method", "byol", "--augself", "crop:-0.5"], "must be > 0"),
        (["--method", "barlow", "--cassle", "crop,style"], "no style with --style none"),
    ]
    for extra, message in cases:
        res = CliRunner().invoke(main, base + extra)
        assert res.exit_code == 1 and message in res.output, (extra, res.output)
        assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
