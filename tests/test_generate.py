"""sassl generate: tiny random diffusers pipelines in the real layout, loaded back by path, fully offline."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from sassl.bank import iter_bank_items, iter_bank_shard, open_bank
from sassl.bank.format import BankError, manifest_path
from sassl.bank.inspect import inspect_bank, verify_bank
from sassl.bank.manifest import read_rows
from sassl.cli import main
from sassl.generate import GenerateConfig, GeneratorError, GeneratorSpec, generate
from sassl.generate.worker import ShardGenerator, check_outputs, to_jpeg, view_seed
from sassl.precompute.units import shard_units

from bank_helpers import write_shard

SIZE = 32  # stored side; the tiny pipelines generate 32 px
ARGS = dict(views_per_image=2, steps=1, image_size=SIZE, batch_size=2, progress=False)


def read_views(bank: Path) -> dict[str, torch.Tensor]:
    info = open_bank(bank)
    return {s["key"]: s["views"] for shard in info.shards for s in iter_bank_shard(shard, info)}


def test_unclip_bank_round_trip_inspect_verify_and_refusals(tiny_pipelines, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_shard(src / "train-000.tar", ["n01.000", "n01.001", "n01.002"], corrupt={"n01.001"})
    out = tmp_path / "gen"
    config = GenerateConfig(out=str(out), generator=str(tiny_pipelines["unclip"]), shards=str(src / "train-000.tar"),
                            in_process=True, seed=3, **ARGS)
    summary = generate(config)
    assert summary.ok and (summary.done, summary.images, summary.errors) == (1, 2, 1)
    assert "2 generated views per sample" in "\n".join(summary.lines())

    record = json.loads((out / "bank.json").read_text())
    assert record["kind"] == "generated" and record["generator"] == "unclip" and record["version"] == 3
    assert record["generator_settings"]["scheduler"].startswith("DDIM") and record["generator_settings"]["steps"] == 1
    assert record["generator_settings"]["guidance"] == 10.0 and record["generator_settings"]["noise_level"] == 0
    assert len(record["generator_fingerprint"]) == 16 and record["totals"]["samples"] == 2

    views = read_views(out)
    assert sorted(views) == ["n01_000", "n01_002"]
    assert all(v.shape == (2, 3, SIZE, SIZE) and v.dtype == torch.uint8 for v in views.values())
    assert not torch.equal(views["n01_000"][0], views["n01_000"][1])  # two seeds, two different views
    rows = read_rows(manifest_path(out / "train-000.tar")).to_pylist()
    assert [r["orig_key"] for r in rows if r["error"]] == ["n01.001"]

    # the stored views are the generator's outputs for the recorded seeds, resized and JPEG-coded
    spec = GeneratorSpec.resolve(str(tiny_pipelines["unclip"]), steps=1)
    source = resize_input(src / "train-000.tar", "n01.002")
    seeds = [view_seed(3, "n01.002", 1), view_seed(4, "n01.002", 1)]
    again = [decode(to_jpeg(x, SIZE, 95)) for x in spec.load("cpu")([source, source], seeds)]
    stored = views["n01_002"][1].permute(1, 2, 0).numpy().astype(np.float32)
    assert np.abs(again[0] - stored).mean() < 0.5 < np.abs(again[1] - stored).mean()

    lines = "\n".join(inspect_bank(out).lines)
    assert "generator: unclip" in lines and "2 views per sample" in lines and "n01.001" in lines
    assert verify_bank(out).ok
    assert generate(config).skipped == 1  # finished shard: not redone
    with pytest.raises(BankError, match="other settings.*views_per_image"):
        generate(GenerateConfig(**{**config.__dict__, "views_per_image": 3}))

    # the checked reader serves generated banks: a flipped byte costs that sample only
    good = next(r for r in rows if r["key"] == "n01_002")
    tar = out / "train-000.tar"
    data = bytearray(tar.read_bytes())
    data[good["offset"] + good["size"] // 2] ^= 0xFF
    tar.write_bytes(bytes(data))
    items = list(iter_bank_items(tar, open_bank(out)))
    assert [i["key"] for i in items if not isinstance(i, BankError)] == ["n01_000"]
    assert [str(i) for i in items if isinstance(i, BankError)][0].endswith(
        "fail their checksum (corrupt shard; `sassl bank verify --repair BANK` rebuilds it)")
    assert not verify_bank(out).ok
    res = CliRunner().invoke(main, ["bank", "verify", str(out), "--repair", "--in-process"])
    assert res.exit_code == 1 and "--repair rebuilds stylizer banks only" in res.output


def decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.float32)


def resize_input(shard: Path, key: str) -> Image.Image:
    from sassl.sources import iter_shard, resize_center_crop

    raw = next(r for r in iter_shard(str(shard)) if r.key == key)
    return resize_center_crop(raw.decode(), SIZE)


def test_image_variation_from_a_folder_through_the_cli(tiny_pipelines, tmp_path):
    from imagegen import write_image_folder

    root = write_image_folder(tmp_path / "photos", classes=2, per_class=1)
    out = tmp_path / "gen"
    result = CliRunner().invoke(main, ["generate", "--image-folder", str(root), "--out", str(out), "--generator",
                                       str(tiny_pipelines["image-variation"]), "--views-per-image", "1", "--steps", "1",
                                       "--image-size", "24", "--in-process"])
    assert result.exit_code == 0, result.output
    assert "images: 2 written" in result.output
    info = open_bank(out)
    assert info.kind == "generated" and info.views_per_image == 1 and info.image_size == 24
    assert sorted(read_views(out)) == ["class0/img0_0", "class1/img1_0"]
    inspected = CliRunner().invoke(main, ["bank", "inspect", str(out)])
    assert "generator: image-variation" in inspected.output and "guidance 3.0" in inspected.output
    wrong = CliRunner().invoke(main, ["generate", "--image-folder", str(root), "--out", str(tmp_path / "x"),
                                      "--generator", str(tiny_pipelines["image-variation"]), "--pipeline", "unclip"])
    assert wrong.exit_code != 0 and "not unclip" in wrong.output


class _Broken:
    """A generator whose outputs go wrong for chosen seeds (NaN, wrong shape), the others fine."""

    def __init__(self, nan_seed: int, small_seed: int) -> None:
        self.nan_seed, self.small_seed = nan_seed, small_seed

    def __call__(self, images, seeds):
        out = []
        for img, seed in zip(images, seeds):
            x = np.asarray(img.resize((SIZE, SIZE)), dtype=np.float32) / 255
            if seed == self.nan_seed:
                x[0, 0, 0] = np.nan
            if seed == self.small_seed:
                x = x[:8]
            out.append(x)
        return out


def test_nan_and_wrong_shape_outputs_skip_only_their_sample(tmp_path):
    from sassl.bank.format import GeneratedSettings

    shard = write_shard(tmp_path / "s.tar", ["a", "b", "c", "d"])
    settings = GeneratedSettings("test", "f" * 16, {}, views_per_image=2, seed=0, image_size=SIZE, jpeg_quality=90)
    worker = ShardGenerator(_Broken(view_seed(0, "b", 1), view_seed(0, "c", 0)), settings, SIZE, 3, 1)
    result = worker.run(shard_units(str(shard))[0], tmp_path)
    assert (result.images, result.errors, result.failed) == (2, 2, None)
    rows = {r["orig_key"]: r["error"] for r in read_rows(manifest_path(tmp_path / "s.tar")).to_pylist()}
    assert rows["a"] is None and rows["d"] is None
    assert "view 1" in rows["b"] and "NaN" in rows["b"]
    assert "view 0" in rows["c"] and "shape (8, 32, 3)" in rows["c"]
    assert check_outputs([np.zeros((SIZE, SIZE, 3))], 2, SIZE) == ["generator returned 1 images for 2 inputs"] * 2


def test_missing_model_extras_and_options_give_one_line(tiny_pipelines, tmp_path, monkeypatch):
    shard = write_shard(tmp_path / "s.tar", ["a"])
    runner = CliRunner()
    base = ["generate", "--shards", str(shard), "--out", str(tmp_path / "g")]
    missing = runner.invoke(main, base + ["--generator", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "generator not found" in missing.output and "hf download" in missing.output
    offline = runner.invoke(main, base + ["--generator", "someone/not-cached-model"])
    assert offline.exit_code != 0 and "hf download someone/not-cached-model" in offline.output
    assert len(offline.output.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    assert "no model_index.json" in runner.invoke(main, base + ["--generator", str(tmp_path / "empty")]).output
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if the extra were not installed
    no_extra = runner.invoke(main, base + ["--generator", str(tiny_pipelines["unclip"])])
    assert no_extra.exit_code != 0 and "pip install 'sassl[generative]'" in no_extra.output
    assert len(no_extra.output.strip().splitlines()) == 1
    with pytest.raises(GeneratorError, match="generative"):
        GeneratorSpec.resolve(str(tiny_pipelines["unclip"]))


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL every process of ``proc``'s session (the driver, its raylet and Ray workers, which may
    sit in process groups of their own) and wait until none is left, so that no worker of the killed
    run can still write into the bank while the rerun works on it."""
    def members() -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == proc.pid and fields[0] != "Z":  # session id; zombies are already dead
                pids.append(int(stat.parent.name))
        return pids

    deadline = time.time() + 60
    while (left := members()) and time.time() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.poll()
        time.sleep(0.05)
    proc.wait()
    assert not members(), "processes of the killed run survived"


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_job_corrupt_tar_kill_and_resume_gives_identical_images(ray_cluster, tiny_pipelines, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for s in range(3):
        write_shard(src / f"part-{s:03d}.tar", [f"k{s}.{i}" for i in range(2)], seed=10 + s)
    bad = write_shard(src / "part-003.tar", ["z.0", "z.1"], seed=99)
    bad.write_bytes(bad.read_bytes()[:1500])  # truncated tar: fails only its shard
    spec = str(src / "part-{000..003}.tar")
    gen = str(tiny_pipelines["unclip"])
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [str(Path(sys.executable).with_name("sassl")), "generate", "--shards", spec, "--out", str(killed),
           "--generator", gen, "--views-per-image", "2", "--steps", "1", "--image-size", str(SIZE),
           "--batch-size", "2", "--num-cpus", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while not list(killed.glob("*.manifest.parquet")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    kill_session(proc)  # kill -9 the driver and its Ray
    assert list(killed.glob("*.manifest.parquet")), "the killed run never finished a shard"
    (killed / ".part-002.tar.abcd.tmp").write_bytes(b"partial")  # the worst a kill can leave
    manifest_path(killed / "part-002.tar").unlink(missing_ok=True)

    config = dict(generator=gen, shards=spec, views_per_image=2, steps=1, image_size=SIZE, batch_size=2, progress=False)
    resumed = generate(GenerateConfig(out=str(killed), **config))  # on Ray (the module's cluster)
    assert resumed.skipped >= 1 and resumed.done + resumed.skipped == 3
    assert [name for name, _ in resumed.failed] == ["part-003"] and "corrupt or truncated" in resumed.failed[0][1]
    assert generate(GenerateConfig(out=str(clean), in_process=True, **config)).done == 3  # the reference
    a, b = read_views(killed), read_views(clean)
    assert sorted(a) == sorted(b) and len(a) == 6
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(killed.glob(".*")) and verify_bank(killed).ok
