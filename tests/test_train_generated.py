"""Training with generated views: the right copies, at the configured rate, counted when missing."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from imagegen import image_bytes, write_image_folder

from sassl.bank import iter_bank_shard, open_bank
from sassl.bank.format import BankError
from sassl.cli import main
from sassl.generate import GenerateConfig, generate
from sassl.train.augment import AugConfig
from sassl.train.record import COLUMNS
from sassl.train.data import StreamDataset, attach_generated, images_spec, make_loader
from sassl.train.views import Batch, StyleConfig, ViewMaker

SIZE = 32
IDENTITY = AugConfig(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0)


@pytest.fixture(scope="module")
def data(tiny_pipelines, tmp_path_factory) -> tuple[Path, Path]:
    """An image folder (2 classes x 4) and its generated bank (K = 2) from the tiny unCLIP pipeline."""
    tmp = tmp_path_factory.mktemp("gen-train")
    root = write_image_folder(tmp / "images", classes=2, per_class=4, size=40)
    gen = tmp / "gen"
    assert generate(GenerateConfig(out=str(gen), generator=str(tiny_pipelines["unclip"]), image_folder=str(root),
                                   views_per_image=2, steps=1, image_size=SIZE, batch_size=4, progress=False,
                                   in_process=True)).ok
    return root, gen


def bank_views(gen: Path) -> dict[str, torch.Tensor]:
    info = open_bank(gen)
    return {s["key"]: s["views"] for shard in info.shards for s in iter_bank_shard(shard, info)}


def test_each_sample_gets_a_copy_of_itself_redrawn_per_epoch(data):
    root, gen = data
    spec, line = attach_generated(images_spec(str(root), SIZE), gen)
    assert "8 of all 8 images of the folder have them" in line
    views = bank_views(gen)
    ds = StreamDataset(spec, seed=0, shuffle_buffer=4)
    drawn: dict[str, set[int]] = {}
    for epoch in range(6):
        ds.set_position(epoch, 0, 1, 0)
        for item in itertools.islice(iter(ds), 8):
            k = item["gen_view"]
            assert k >= 0 and torch.equal(item["gen_image"], views[item["key"]][k])  # its own key's view k
            drawn.setdefault(item["key"], set()).add(k)
    assert len(drawn) == 8 and all(d == {0, 1} for d in drawn.values())  # re-drawn across epochs


def test_view_2_is_generated_at_the_configured_rate_and_view_1_stays_real(data):
    root, gen = data
    spec, _ = attach_generated(images_spec(str(root), SIZE), gen)
    ds = StreamDataset(spec, seed=0, shuffle_buffer=4)
    ds.set_position(0, 0, 8, 0)
    batch = Batch.from_loader(next(iter(make_loader(ds, 8, 0))), torch.device("cpu"))
    batch.gen_view[:2] = -1  # two samples without a copy: never generated
    maker = ViewMaker((IDENTITY, IDENTITY), SIZE, StyleConfig("none"), gen_p=0.3)
    as_gen = Batch(batch.gen_images, batch.labels)
    g = torch.Generator().manual_seed(0)
    flags = []
    for _ in range(300):
        out = maker(batch, g)
        v1, v2, p1, p2 = out.v1, out.v2, out.p1, out.p2
        flags.append(p2.generated)
        # the flag is the record's `generated` column: view 2's draw, view 1 always 0
        assert torch.equal(out.rec2[:, COLUMNS.index("generated")], p2.generated.float())
        assert not out.rec1[:, COLUMNS.index("generated")].any()
        assert not p1.generated.any() and not p2.generated[:2].any()
        assert torch.equal(v1, maker.render(Batch(batch.images, batch.labels), p1))
        expected = torch.where(p2.generated[:, None, None, None], maker.render(as_gen, p2), maker.render(
            Batch(batch.images, batch.labels), p2))
        assert torch.equal(v2, expected)
    rate = torch.stack(flags)[:, 2:].float().mean().item()  # 1800 draws: sd 0.011
    assert abs(rate - 0.3) < 0.045


def test_unmatched_samples_are_counted_and_foreign_banks_refused(data, tmp_path):
    root, gen = data
    more = shutil.copytree(root, tmp_path / "more")
    for i in range(3):
        (more / "class0" / f"extra{i}.jpg").write_bytes(image_bytes(500 + i, 40))
    spec, line = attach_generated(images_spec(str(more), SIZE), gen)
    assert "8 of all 11 images" in line and "3 do not" in line
    ds = StreamDataset(spec, seed=0, shuffle_buffer=4)
    items = list(itertools.islice(iter(ds), 11))
    assert sorted(i["key"] for i in items if i["gen_view"] < 0) == [f"class0/extra{i}" for i in range(3)]
    other = write_image_folder(tmp_path / "other", classes=1, per_class=2, size=40, flat=True)
    with pytest.raises(BankError, match="none of all 2 images of the folder has generated views"):
        attach_generated(images_spec(str(other), SIZE), gen)
    with pytest.raises(BankError, match="not a generated one"):
        from train_helpers import make_bank

        attach_generated(images_spec(str(root), SIZE), make_bank(tmp_path / "content", root, size=SIZE))


@pytest.mark.slow
def test_train_cli_with_generated_views(data, tmp_path):
    root, gen = data
    out = tmp_path / "run"
    result = CliRunner().invoke(main, [
        "train", "--method", "simclr", "--images", str(root), "--style", "none", "--generated", str(gen),
        "--gen-p", "1.0", "--arch", "resnet18", "--small-stem", "--image-size", "24", "--load-size", str(SIZE),
        "--batch-size", "4", "--steps", "2", "--workers", "0", "--log-every", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 sample(s) without generated views" in result.output
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 2 and rows[-1]["without_generated"] == "0"
    inputs = json.loads((out / "config.json").read_text())["inputs"]
    assert inputs["generated_bank"] == {"bank_json_sha256": hashlib.sha256((gen / "bank.json").read_bytes()).hexdigest()}
