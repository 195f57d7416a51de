"""Corrupt bank data through the command line: a flipped byte is skipped and counted by training,
found by ``sassl bank verify`` and rebuilt by ``--repair``; a shard of only unreadable images fails."""

from __future__ import annotations

import pytest
import torch
import torchvision
from click.testing import CliRunner
from imagegen import write_image_folder

from sassl.bank.format import manifest_path
from sassl.bank.manifest import read_rows
from sassl.cli import main

PRECOMPUTE = ["--image-size", "24", "--codec", "fp16", "--shard-size", "8", "--batch-size", "8", "--in-process",
              "--stylizer", "adain", "--encoder-weights", "random", "--allow-random-weights"]
REPAIR = ["--repair", "--in-process", "--encoder-weights", "random", "--allow-random-weights"]


def _flip_inside_a_sample(tar) -> None:
    row = [r for r in read_rows(manifest_path(tar)).to_pylist() if r["key"]][3]
    data = bytearray(tar.read_bytes())
    data[row["offset"] + row["size"] // 2] ^= 0x01
    tar.write_bytes(bytes(data))


@pytest.mark.slow
def test_flipped_byte_is_skipped_in_training_and_repaired(tmp_path):
    runner = CliRunner()
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=8, size=32)
    bank = tmp_path / "bank"
    made = runner.invoke(main, ["precompute", "--image-folder", str(folder), "--out", str(bank), *PRECOMPUTE])
    assert made.exit_code == 0, made.output
    good, damaged = bank / "images-000000.tar", bank / "images-000001.tar"
    original, untouched = damaged.read_bytes(), good.stat()
    _flip_inside_a_sample(damaged)

    run = runner.invoke(main, ["train", "--method", "simclr", "--bank", str(bank), "--out", str(tmp_path / "run"),
                               "--style", "none", "--arch", "resnet18", "--small-stem", "--image-size", "16",
                               "--batch-size", "4", "--steps", "2", "--workers", "0", "--lr", "0.05"])
    assert run.exit_code == 0, run.output
    assert "skipped 1 corrupt item(s)" in run.stdout

    verified = runner.invoke(main, ["bank", "verify", str(bank)])
    assert verified.exit_code == 1 and "images-000001.tar: sample" in verified.stdout
    repaired = runner.invoke(main, ["bank", "verify", str(bank), *REPAIR])
    assert repaired.exit_code == 0, repaired.output
    assert "repairing images-000001" in repaired.stdout and "after repair: 2 shards, 16 samples checked: OK" in repaired.stdout
    assert damaged.read_bytes() == original  # rebuilt from the recorded input: the same bytes
    assert good.stat().st_mtime_ns == untouched.st_mtime_ns and good.stat().st_ino == untouched.st_ino


def test_repair_without_the_inputs_changes_nothing(tmp_path):
    runner = CliRunner()
    folder = write_image_folder(tmp_path / "images", classes=1, per_class=8, size=32)
    bank = tmp_path / "bank"
    assert runner.invoke(main, ["precompute", "--image-folder", str(folder), "--out", str(bank), *PRECOMPUTE]).exit_code == 0
    tar = bank / "images-000000.tar"
    _flip_inside_a_sample(tar)
    damaged = tar.read_bytes()
    for image in folder.rglob("*.jpg"):
        image.unlink()
    res = runner.invoke(main, ["bank", "verify", str(bank), *REPAIR])
    assert res.exit_code == 1 and res.stderr.startswith("Error: ") and "images" in res.stderr
    assert tar.read_bytes() == damaged and manifest_path(tar).exists()


@pytest.mark.filterwarnings("default::UserWarning")  # shown, as outside pytest: the CLI prints it once
def test_shard_of_only_unreadable_images_fails_the_run(tmp_path):
    folder = write_image_folder(tmp_path / "images", classes=2, per_class=8, size=32)
    for image in (folder / "class1").iterdir():
        image.write_bytes(b"not an image")
    res = CliRunner().invoke(main, ["precompute", "--image-folder", str(folder), "--out", str(tmp_path / "bank"),
                                    *PRECOMPUTE])
    assert res.exit_code == 1
    assert "2 total, 1 done, 0 skipped (already finished), 1 failed" in res.stdout
    assert "FAILED images-000001: " in res.stdout and "no readable image (8 unreadable; first: " in res.stdout
    assert not (tmp_path / "bank" / "images-000001.tar").exists()
    warned = [line for line in res.stderr.splitlines() if "RANDOM WEIGHTS" in line]
    assert len(warned) == 1 and warned[0].startswith("WARNING: RANDOM WEIGHTS for the VGG encoder")


def _damaged_bank(tmp_path, *options: str):
    folder = write_image_folder(tmp_path / "images", classes=1, per_class=8, size=32)
    bank = tmp_path / "bank"
    made = CliRunner().invoke(main, ["precompute", "--image-folder", str(folder), "--out", str(bank), *options])
    assert made.exit_code == 0, made.output
    tar = bank / "images-000000.tar"
    original = tar.read_bytes()
    _flip_inside_a_sample(tar)
    return bank, tar, original


def test_repair_of_an_adain_bank_needs_the_encoder_weights_it_was_made_with(tmp_path):
    bank, tar, _ = _damaged_bank(tmp_path, *PRECOMPUTE)
    damaged = tar.read_bytes()
    other = tmp_path / "vgg19.pth"  # valid VGG weights, but not the ones the bank was made with
    torch.save({f"features.{k}": v for k, v in torchvision.models.vgg19(weights=None).features.state_dict().items()},
               other)
    runner = CliRunner()
    cases = [([], "pass --encoder-weights with the VGG weights it was made with"),
             (["--encoder-weights", str(other)], f"but --encoder-weights (encoder {other}) gives ")]
    for weights, says in cases:
        res = runner.invoke(main, ["bank", "verify", str(bank), "--repair", "--in-process", *weights])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], res.stderr
        assert tar.read_bytes() == damaged and manifest_path(tar).exists()


@pytest.mark.slow
def test_ghiasi_bank_repairs_with_no_weight_options(tmp_path):
    bank, tar, original = _damaged_bank(tmp_path, "--image-size", "64", "--shard-size", "8", "--batch-size", "8",
                                        "--in-process")
    res = CliRunner().invoke(main, ["bank", "verify", str(bank), "--repair", "--in-process"])
    assert res.exit_code == 0, res.output
    assert "after repair: 1 shards, 8 samples checked: OK" in res.stdout
    assert tar.read_bytes() == original
