"""End to end: a checkpoint evaluated on generated data sets and shards, reports, cache, compare, CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
from click.testing import CliRunner
from PIL import Image

from sassl.backbone import backbone_record, build_backbone
from sassl.cli.evaluate import eval_cmd
from sassl.evaluate import (
    EvalOptions,
    FewShotProbe,
    KNNProbe,
    LBFGSConfig,
    LinearProbe,
    compare_runs,
    evaluate,
    shards_task,
    transfer_task,
)
from test_eval_datasets import class_colour, make_dtd, make_imagefolder

# these tests check the pipeline; the probe's optimum is tested elsewhere
LINEAR = LinearProbe(np.logspace(-6, 5, 6), LBFGSConfig(max_iter=100))


def make_checkpoint(run_dir: Path, arch: str = "resnet18", seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net, _ = build_backbone(arch, small_stem=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "last.pt"
    torch.save({**backbone_record(arch, True, net), "epoch": 1}, path)
    return path


def test_transfer_dtd_report_and_cache(tmp_path):
    make_dtd(tmp_path / "data")
    ckpt = make_checkpoint(tmp_path / "run")
    task, probes = transfer_task("dtd", tmp_path / "data"), [LINEAR, KNNProbe()]
    options = EvalOptions(image_size=32, workers=0, device="cpu")
    res = evaluate(ckpt, task, probes, options)
    assert res["task"] == "dtd-p1" and res["splits"] == {"train": 12, "val": 12, "test": 12}
    assert res["linear"]["test"] > 0.9  # colours separate the classes even through random weights
    assert set(res["knn"]["test"]) == {"20", "200"}
    assert "45" not in res["linear"]["protocol"] and "6 wd values 1e-06..1e+05" in res["linear"]["protocol"]
    report = json.loads((tmp_path / "run" / "eval" / "last-dtd-p1.json").read_text())
    assert report["linear"]["test"] == res["linear"]["test"]
    md = (tmp_path / "run" / "eval" / "last-dtd-p1.md").read_text()
    assert "bicubic 32 centre crop" in md and "refit train+val" in md
    cached = sorted((tmp_path / "run" / "eval" / "features").glob("*.x.npy"))
    assert len(cached) == 3
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = evaluate(ckpt, task, probes, options)
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # features came from the cache
    assert again["linear"]["test"] == res["linear"]["test"] and again["linear"]["sweep"] == res["linear"]["sweep"]


def test_imagefolder_few_shot_and_unreadable_images(tmp_path):
    root = make_imagefolder(tmp_path / "folder", per_class=18, classes=4)
    (root / "test" / "class0" / "broken.jpg").write_bytes(b"not a jpeg")
    ckpt = make_checkpoint(tmp_path / "run")
    res = evaluate(ckpt, transfer_task(f"imagefolder:{root}"), [LINEAR, FewShotProbe.parse("3-way-2-shot", 20)],
                   EvalOptions(image_size=32, workers=0, device="cpu"))
    assert res["task"] == "imagefolder-folder" and res["skipped"]["test"] == 1
    assert res["splits"]["test"] == 72 and res["few_shot"]["mean"] > 0.9
    assert "3-way 2-shot" in res["few_shot"]["protocol"]


def write_shard(path: Path, items: list[tuple[str, int, bytes]]) -> None:
    with wds.TarWriter(str(path), mtime=0) as sink:
        for key, label, jpg in items:
            sink.write({"__key__": key, "jpg": jpg, "cls": str(label).encode()})


def jpeg_bytes(colour, size=(24, 20)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG")
    return buf.getvalue()


def test_shards_k_shot_subset_is_written_and_reusable(tmp_path):
    items = [(f"n{c}_{i:03d}", c, jpeg_bytes(class_colour(c), (24 + i, 20))) for c in range(3) for i in range(12)]
    order = np.random.default_rng(0).permutation(len(items))
    write_shard(tmp_path / "train-000.tar", [items[i] for i in order[:18]])
    write_shard(tmp_path / "train-001.tar", [items[i] for i in order[18:]])
    test = [(f"v{c}_{i}", c, jpeg_bytes(class_colour(c))) for c in range(3) for i in range(4)]
    test.append(("bad_0", 1, b"garbage"))
    write_shard(tmp_path / "val-000.tar", test)
    ckpt = make_checkpoint(tmp_path / "run")
    options = EvalOptions(image_size=32, workers=1, device="cpu")
    spec, test_spec = str(tmp_path / "train-{000..001}.tar"), str(tmp_path / "val-000.tar")
    res = evaluate(ckpt, shards_task(spec, test_spec, k_shot=1, val_per_class=2), [LINEAR, KNNProbe()], options)
    assert res["splits"] == {"train": 3, "val": 6, "test": 12} and res["skipped"]["test"] == 1
    assert "fit on the 1-shot subset only" in res["linear"]["protocol"] and res["linear"]["test"] > 0.9
    assert "train as memory" in res["knn"]["protocol"]  # K-shot: val never joins the labelled set
    subset = json.loads(Path(res["subset_file"]).read_text())
    assert subset["k"] == 1 and len(subset["train"]) == 3 and len(subset["val"]) == 6
    assert not {tuple(p) for p in subset["train"]} & {tuple(p) for p in subset["val"]}
    assert sorted(int(k[1]) for _, k in subset["train"]) == [0, 1, 2]  # one image per class
    reused = evaluate(ckpt, shards_task(spec, test_spec, subset=res["subset_file"], seed=5), [LINEAR],
                      EvalOptions(image_size=32, workers=1, device="cpu", out_dir=tmp_path / "other"))
    assert json.loads(Path(reused["subset_file"]).read_text())["train"] == subset["train"]
    full = evaluate(ckpt, shards_task(spec, test_spec, val_per_class=2), [LINEAR], options)
    assert full["splits"]["train"] == 30 and full["task"] == "shards-all" and full["subset_file"] is None


@pytest.mark.slow
def test_cli_eval_errors_and_compare(tmp_path):
    runner = CliRunner()
    ckpt_a = make_checkpoint(tmp_path / "runA", seed=0)
    ckpt_b = make_checkpoint(tmp_path / "runB", seed=1)
    bad = runner.invoke(eval_cmd, ["--checkpoint", str(ckpt_a), "--transfer", "dtd", "--data-root", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "expected layout" in bad.output and "Traceback" not in bad.output
    usage = runner.invoke(eval_cmd, ["--checkpoint", str(ckpt_a)])
    assert usage.exit_code == 2 and "exactly one of" in usage.output
    make_dtd(tmp_path / "data")
    for ckpt in (ckpt_a, ckpt_b):
        out = runner.invoke(eval_cmd, ["--checkpoint", str(ckpt), "--transfer", "dtd", "--data-root",
                                       str(tmp_path / "data"), "--image-size", "32", "--workers", "0",
                                       "--device", "cpu", "--knn"])
        assert out.exit_code == 0, out.output
        assert "45 wd values 1e-06..1e+05 chosen on val" in out.output
    chart = tmp_path / "cmp.png"
    cmp = runner.invoke(eval_cmd, ["compare", str(tmp_path / "runA"), str(tmp_path / "runB"), "--chart", str(chart)])
    assert cmp.exit_code == 0, cmp.output
    assert "| runA |" in cmp.output and "| runB |" in cmp.output and "dtd-p1 linear" in cmp.output
    with Image.open(chart) as img:
        assert img.format == "PNG" and img.width > 200
    assert compare_runs([tmp_path / "runA"], tmp_path / "one.png").count("| runA |") == 1


NO_TRAIN = """
import json, sys
from sassl.evaluate import EvalOptions, FewShotProbe, KNNProbe, LinearProbe, evaluate, shards_task, transfer_task
ckpt, folder, shards = sys.argv[1:]
probes = [LinearProbe(), KNNProbe(), FewShotProbe.parse("2-way-1-shot", episodes=5)]
options = EvalOptions(image_size=16, workers=0, device="cpu")
evaluate(ckpt, transfer_task(f"imagefolder:{folder}"), probes, options)
evaluate(ckpt, shards_task(shards, shards, k_shot=1, val_per_class=1), probes, options)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("sassl"))))
"""


def test_evaluation_never_imports_train(tmp_path):
    """Evaluation reads only the backbone record, so neither importing it nor running every task and
    probe loads sassl.train (a fresh interpreter, so nothing else has imported it)."""
    root = make_imagefolder(tmp_path / "folder", per_class=16, classes=2)
    write_shard(tmp_path / "s.tar", [(f"k{c}_{i:02d}", c, jpeg_bytes(class_colour(c))) for c in range(2) for i in range(16)])
    ckpt = make_checkpoint(tmp_path / "run")
    out = subprocess.run([sys.executable, "-c", NO_TRAIN, str(ckpt), str(root), str(tmp_path / "s.tar")],
                         capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"sassl.evaluate.run", "sassl.backbone", "sassl.weights"} <= set(loaded)  # it did evaluate
    assert [m for m in loaded if m == "sassl.train" or m.startswith("sassl.train.")] == []
