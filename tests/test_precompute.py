"""The precompute job end to end on a local Ray (one cluster for the module), plus worker-level faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sassl.bank import iter_bank_shard, load_style_bank, open_bank
from sassl.bank.format import manifest_path
from sassl.bank.manifest import read_rows
from sassl.cli import main
from sassl.precompute.job import PrecomputeConfig, precompute

from bank_helpers import jpeg, write_shard

os.environ["RAY_AUTH_MODE"] = "disabled"
SIZE = 32  # AdaIN features 512 x 4 x 4: fast on CPU, same code path as 224
ARGS = dict(image_size=SIZE, batch_size=2, progress=False)  # the default stylizer: Ghiasi's, real weights
ADAIN = dict(ARGS, stylizer="adain", encoder_weights="random", allow_random_weights=True)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture()
def shards(tmp_path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    write_shard(src / "train-000.tar", [f"n01.{i:03d}" for i in range(5)], corrupt={"n01.002"}, seed=0)
    write_shard(src / "train-001.tar", [f"n02.{i:03d}" for i in range(4)], seed=1)
    bad = write_shard(src / "train-002.tar", [f"n03.{i:03d}" for i in range(4)], seed=2)
    bad.write_bytes(bad.read_bytes()[:2000])  # truncated tar
    return src


def read_all(bank: Path) -> dict[str, dict]:
    info = open_bank(bank)
    return {s["key"]: s for shard in info.shards for s in iter_bank_shard(shard, info)}


@pytest.mark.slow
def test_end_to_end_bank_with_faults_rerun_and_cli(ray_cluster, shards, tmp_path):
    out = tmp_path / "bank"
    spec = str(shards / "train-{000..002}.tar")
    summary = precompute(PrecomputeConfig(out=str(out), shards=spec, **ARGS))
    assert (summary.done, summary.skipped, summary.images, summary.errors) == (2, 0, 8, 1)
    assert [name for name, _ in summary.failed] == ["train-002"]
    assert "train-002.tar" in summary.failed[0][1] and "corrupt or truncated" in summary.failed[0][1]

    samples = read_all(out)
    assert sorted(samples) == [f"n01_{i:03d}" for i in (0, 1, 3, 4)] + [f"n02_{i:03d}" for i in range(4)]
    s = samples["n02_001"]
    assert s["image"].shape == (3, SIZE, SIZE) and s["code"].shape == (100,) and s["label"] == 1
    assert "content" not in s and torch.isfinite(s["code"]).all() and s["code"].abs().sum() > 0
    info = open_bank(out)
    assert (info.stylizer, info.code_shape, info.content_shape, info.codec) == ("ghiasi", (100,), None, None)
    errors = [r for r in read_rows(manifest_path(out / "train-000.tar")).to_pylist() if r["error"]]
    assert [r["orig_key"] for r in errors] == ["n01.002"]
    assert not (out / "train-002.tar").exists() and not list(out.glob(".*"))

    again = precompute(PrecomputeConfig(out=str(out), shards=spec, **ARGS))
    assert (again.done, again.skipped, len(again.failed)) == (0, 2, 1)

    runner = CliRunner()
    inspected = runner.invoke(main, ["bank", "inspect", str(out)])
    assert inspected.exit_code == 0 and "samples: 8; skipped inputs: 1" in inspected.output
    assert "stylizer: ghiasi" in inspected.output and "style code (100,)" in inspected.output
    assert "n01.002" in inspected.output
    assert runner.invoke(main, ["bank", "verify", str(out)]).exit_code == 0
    tar = out / "train-001.tar"
    data = bytearray(tar.read_bytes())
    data[1200] ^= 0x01
    tar.write_bytes(bytes(data))
    verified = runner.invoke(main, ["bank", "verify", str(out)])
    assert verified.exit_code == 1 and "MISMATCH" in verified.output

    refused = runner.invoke(main, ["precompute", "--shards", spec, "--out", str(out), "--stylizer", "adain",
                                   "--encoder-weights", "random", "--allow-random-weights", "--image-size", str(SIZE)])
    assert refused.exit_code != 0 and "other settings" in refused.output and "stylizer: 'ghiasi' != 'adain'" in refused.output


@pytest.mark.slow
def test_style_only_bank_from_image_folder(ray_cluster, tmp_path):
    root = tmp_path / "paintings"
    root.mkdir()
    for i in range(5):
        (root / f"art.{i}.v2.jpg").write_bytes(jpeg(100 + i))
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "styles"
    summary = precompute(PrecomputeConfig(out=str(out), image_folder=str(root), style_only=True, shard_size=4, **ARGS))
    assert summary.ok and (summary.done, summary.images, summary.errors) == (2, 5, 1)
    info, codes = load_style_bank(out)
    assert info.kind == "style" and info.codec is None and len(info.shards) == 2
    assert codes.shape == (5, 100)
    keys = sorted(read_all(out))
    assert keys == [f"art_{i}_v2" for i in range(5)]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bank(ray_cluster, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for s in range(4):
        write_shard(src / f"part-{s:03d}.tar", [f"k{s}.{i}" for i in range(3)], seed=10 + s)
    spec = str(src / "part-{000..003}.tar")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [str(Path(sys.executable).with_name("sassl")), "precompute", "--shards", spec, "--out", str(killed),
           "--stylizer", "adain", "--encoder-weights", "random", "--allow-random-weights", "--image-size", str(SIZE),
           "--batch-size", "1", "--num-cpus", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    deadline = time.time() + 120
    while not list(killed.glob("*.manifest.parquet")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the driver and everything it started
    proc.wait()
    assert list(killed.glob("*.manifest.parquet")), "the killed run never finished a shard"
    # Whatever the kill timing left, also leave the worst states a kill can: a temp file and a
    # finished tar whose manifest was never written.
    (killed / ".part-003.tar.abcd.tmp").write_bytes(b"partial")
    manifest_path(killed / "part-003.tar").unlink(missing_ok=True)
    assert all("part-003" not in s for s in open_bank(killed).shards)

    resumed = precompute(PrecomputeConfig(out=str(killed), shards=spec, **{**ADAIN, "batch_size": 1}))
    assert resumed.ok and resumed.skipped >= 1 and resumed.done + resumed.skipped == 4
    precompute(PrecomputeConfig(out=str(clean), shards=spec, **{**ADAIN, "batch_size": 1}))
    a, b = read_all(killed), read_all(clean)
    assert sorted(a) == sorted(b) and len(a) == 12
    for key in a:
        assert torch.equal(a[key]["image"], b[key]["image"])
        assert torch.allclose(a[key]["content"], b[key]["content"], atol=1e-4)
        assert torch.allclose(a[key]["code"], b[key]["code"], atol=1e-5)
    assert not list(killed.glob(".*"))


def test_bad_stylizer_weights_are_refused_before_any_output(tmp_path):
    """A truncated ONNX file in --stylizer-weights: one line naming it, exit 1, no bank folder."""
    from sassl.style.ghiasi import PREDICT_FILE, TRANSFORM_FILE, default_weights_dir

    weights = tmp_path / "weights"
    weights.mkdir()
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        data = (default_weights_dir() / name).read_bytes()
        (weights / name).write_bytes(data[: len(data) // 2] if name == PREDICT_FILE else data)
    write_shard(tmp_path / "s-000.tar", ["a", "b"])
    out = tmp_path / "bank"
    res = CliRunner().invoke(main, ["precompute", "--shards", str(tmp_path / "s-000.tar"), "--out", str(out),
                                    "--stylizer-weights", str(weights), "--in-process"])
    assert res.exit_code == 1 and str(weights / PREDICT_FILE) in res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()
