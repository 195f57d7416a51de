"""Evaluation numbers stay what they were: every protocol re-run on a fixed fixture against stored results.

``tests/data/eval_reference.json`` holds the results (splits, every probe number, the whole val sweep,
protocol lines, report table rows) that the evaluation code produced on this fixture when the file was
written. Any change in how splits are carved, features cached, probes fitted or protocols described
shows up here as a difference. Rewrite the file only for a deliberate protocol change:
``SASSL_WRITE_EVAL_REFERENCE=1 pytest tests/test_eval_reference.py`` (the run then skips, never passes).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sassl.backbone import backbone_record, build_backbone
from sassl.evaluate import (
    EvalOptions,
    FewShotProbe,
    KNNProbe,
    LBFGSConfig,
    LinearProbe,
    evaluate,
    shards_task,
    transfer_task,
)
from test_eval_run import write_shard

REFERENCE = Path(__file__).parent / "data" / "eval_reference.json"
GRID = np.logspace(-6, 5, 8)
FAST = LBFGSConfig(max_iter=100)
CLASSES, SIZE = 4, 16
# Run-specific entries (timestamps, timings, the checkpoint's bytes) are left out; paths are made relative.
VOLATILE = {"checkpoint_sha256", "created", "fit_seconds", "device"}


def noisy_image(rng: np.random.Generator, c: int) -> np.ndarray:
    """Noise around a class colour close to the others', so that probes land between chance and 100%."""
    base = np.array([[120, 100, 100], [100, 120, 100], [100, 100, 120], [115, 115, 100]][c], dtype=np.float64)
    return np.clip(base + rng.normal(0, 40, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


def jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")  # lossless: the decoder cannot change the pixels
    return buf.getvalue()


def make_fixture(root: Path) -> tuple[Path, Path, str, str]:
    """A checkpoint, an image folder (train/val/test) and the same images as train/test shards."""
    rng = np.random.default_rng(0)
    counts = {"train": 20, "val": 6, "test": 18}
    shard_items: dict[str, list[tuple[str, int, bytes]]] = {"train": [], "test": []}
    for split, n in counts.items():
        for c in range(CLASSES):
            for i in range(n):
                data = jpeg(noisy_image(rng, c))
                path = root / "folder" / split / f"class{c}" / f"{i:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                shard_items["test" if split == "test" else "train"].append((f"{split}{c}_{i:03d}", c, data))
    for split, items in shard_items.items():
        write_shard(root / f"{split}.tar", [items[i] for i in rng.permutation(len(items))])
    torch.manual_seed(0)
    net, _ = build_backbone("resnet18", small_stem=True)
    (root / "run").mkdir()
    ckpt = root / "run" / "last.pt"
    torch.save(backbone_record("resnet18", True, net), ckpt)
    return ckpt, root / "folder", str(root / "train.tar"), str(root / "test.tar")


def comparable(result: dict, root: Path) -> dict:
    """The result without run-specific entries, plus the report's table rows (numbers next to protocols)
    and the K-shot subset file's contents."""
    def strip(d):
        return {k: strip(v) for k, v in d.items() if k not in VOLATILE} if isinstance(d, dict) else d

    subset = json.loads(Path(result["subset_file"]).read_text()) if result.get("subset_file") else None
    table = [line for line in Path(result["report"]["markdown"]).read_text().splitlines() if line.startswith("| ")]
    return json.loads(json.dumps({**strip(result), "table": table, "subset": subset}).replace(str(root), "ROOT"))


def run_all(root: Path) -> dict[str, dict]:
    ckpt, folder, train, test = make_fixture(root)
    options = EvalOptions(image_size=SIZE, workers=0, device="cpu", cache_dir=root / "cache")
    linear = LinearProbe(GRID, FAST)
    probes = [linear, KNNProbe(), FewShotProbe.parse("3-way-2-shot", episodes=50, seed=3)]
    return {
        "transfer": comparable(evaluate(ckpt, transfer_task(f"imagefolder:{folder}", seed=3), probes, options), root),
        "shards-all": comparable(evaluate(ckpt, shards_task(train, test, val_per_class=3), [linear], options), root),
        "shards-2-shot": comparable(
            evaluate(ckpt, shards_task(train, test, k_shot=2, val_per_class=3, seed=1), [linear], options), root
        ),
    }


def test_evaluation_numbers_match_the_reference(tmp_path):
    got = run_all(tmp_path)
    if os.environ.get("SASSL_WRITE_EVAL_REFERENCE"):
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {REFERENCE}")
    want = json.loads(REFERENCE.read_text())
    assert set(got) == set(want)
    for name in want:
        assert got[name] == want[name], name
