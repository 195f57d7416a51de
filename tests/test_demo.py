"""The built-in end-to-end demo runs every stage and writes its report (reduced size)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from sassl.demo import textures
from sassl.demo.pipeline import DemoConfig, run_demo


def test_textures_are_balanced_and_deterministic() -> None:
    a = textures.samples(2, 32, seed=5, classes=4)
    assert [label for _, label, _ in a] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert a == textures.samples(2, 32, seed=5, classes=4)
    assert len({key for key, _, _ in a}) == len(a) and all("." not in key for key, _, _ in a)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_writes_the_report(tmp_path) -> None:
    cfg = DemoConfig(out=str(tmp_path / "demo"), classes=4, pretrain_per_class=8, eval_per_class=(4, 2, 4),
                     gen_size=40, bank_size=32, image_size=32, batch_size=16, epochs=1, workers=0)
    report = run_demo(cfg)
    text = report.read_text()
    assert "Random-weight style networks" in text and "| simclr |" in text and "| simclr-sassl |" in text
    folder = report.parent
    assert Image.open(folder / "comparison.png").size[0] > 100
    assert Image.open(folder / "views.png").size[0] > 100
    results = json.loads((folder / "results.json").read_text())["results"]
    assert set(results) == {"random-init", "simclr", "simclr-sassl"} and "| random-init |" in text
    for res in results.values():
        assert 0.0 <= res["linear"]["test"] <= 1.0 and res["splits"] == {"train": 16, "val": 8, "test": 16}
    bank = json.loads((tmp_path / "demo/bank/bank.json").read_text())
    assert bank["image_size"] == 32
