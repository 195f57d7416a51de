"""``sassl demo``: the whole pipeline on generated data, small enough for 2 CPU cores in minutes.

Steps: generate labelled textures (pretraining shards + a train/val/test evaluation folder) ->
precompute a feature bank (Ray) -> pretrain SimCLR without and with SASSL (same seed, steps and
batch) -> linear probe + kNN on the evaluation folder -> a report folder with Markdown, the
stylised-views PNG, the comparison table and chart. Each stage calls the same library function
as its command, so the demo exercises the real code paths.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from sassl.atomic import atomic_torch_save, atomic_write_text
from sassl.demo import textures
from sassl import evaluate as ev
from sassl.precompute import PrecomputeConfig, precompute
from sassl.backbone import backbone_record, build_backbone
from sassl.train.checkpoint import LAST
from sassl.train.loop import TrainConfig, train


@dataclass
class DemoConfig:
    """Sizes are chosen so the default run takes a few minutes on 2 CPU cores."""

    out: str = "demo-run"
    classes: int = len(textures.CLASSES)
    pretrain_per_class: int = 48
    eval_per_class: tuple[int, int, int] = (16, 8, 16)  # train, val, test images per class
    gen_size: int = 72  # generated image side
    bank_size: int = 64  # canonical image side in the bank (multiple of 8)
    image_size: int = 56  # training crop side
    arch: str = "resnet18"
    batch_size: int = 64
    epochs: int = 8
    workers: int = 1
    encoder_weights: str | None = None  # None: random VGG (said in the report)
    decoder: str | None = None  # None: random decoder (said in the report)
    seed: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def random_weights(self) -> bool:
        return self.encoder_weights is None or self.decoder is None


def _timed(cfg: DemoConfig, stage: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    result = fn()
    cfg.stage_seconds[stage] = round(time.perf_counter() - t, 1)
    return result


def make_data(cfg: DemoConfig, root: Path) -> tuple[list[Path], Path]:
    """Pretraining shards and an ``imagefolder`` evaluation tree; reused when already complete."""
    done = root / "DONE"
    shards_dir, eval_dir = root / "pretrain", root / "eval"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        items = textures.samples(cfg.pretrain_per_class, cfg.gen_size, cfg.seed, cfg.classes)
        textures.write_shards(shards_dir, items, per_shard=max(1, len(items) // 4))
        for i, (split, n) in enumerate(zip(("train", "val", "test"), cfg.eval_per_class)):
            textures.write_folder(eval_dir / split, textures.samples(n, cfg.gen_size, cfg.seed + 1 + i, cfg.classes))
        atomic_write_text(done, "")
    return sorted(shards_dir.glob("*.tar")), eval_dir


def run_demo(cfg: DemoConfig) -> Path:
    """Run every stage (finished stages of an earlier run in the same folder are reused); returns the report path."""
    out = Path(cfg.out)
    shards, eval_dir = _timed(cfg, "generate data", lambda: make_data(cfg, out / "data"))
    allow_random = cfg.random_weights
    encoder = cfg.encoder_weights or "random"
    decoder = cfg.decoder or "random"
    bank = out / "bank"
    summary = _timed(cfg, "precompute bank", lambda: precompute(PrecomputeConfig(
        out=str(bank), shards=[str(s) for s in shards], image_size=cfg.bank_size, encoder_weights=encoder,
        allow_random_weights=allow_random, batch_size=32, workers=1, num_cpus=2)))
    if not summary.ok:
        raise RuntimeError("precompute failed: " + "; ".join(summary.lines()))
    common = dict(method="simclr", arch=cfg.arch, image_size=cfg.image_size, batch_size=cfg.batch_size,
                  epochs=cfg.epochs, workers=cfg.workers, seed=cfg.seed, encoder_weights=encoder, decoder=decoder,
                  allow_random_weights=allow_random)

    def folder(name: str) -> dict[str, Any]:
        """An earlier demo's run is continued from its checkpoint; one stopped before any is restarted."""
        run_dir = out / "runs" / name
        resume = (run_dir / LAST).exists()
        return dict(out=str(run_dir), resume=resume, overwrite=not resume)

    runs = {
        "simclr": TrainConfig(images=" ".join(map(str, shards)), style="none", load_size=cfg.bank_size,
                              **folder("simclr"), **common),
        "simclr-sassl": TrainConfig(bank=str(bank), style="in-batch", **folder("simclr-sassl"), **common),
    }
    def evaluate(run_dir: Path) -> dict:
        return ev.evaluate(run_dir / "last.pt", ev.transfer_task(f"imagefolder:{eval_dir}"),
                           [ev.LinearProbe(), ev.KNNProbe()], ev.EvalOptions(image_size=cfg.bank_size, workers=0))

    reference = random_init_checkpoint(cfg, out / "runs/random-init")
    results = {"random-init": (reference, _timed(cfg, "evaluate random-init", lambda: evaluate(reference)))}
    for name, tcfg in runs.items():
        run = _timed(cfg, f"pretrain {name}", lambda tcfg=tcfg: train(tcfg))
        results[name] = (Path(run.run_dir), _timed(cfg, f"evaluate {name}", lambda run=run: evaluate(Path(run.run_dir))))
    return write_report(cfg, out, results)


def random_init_checkpoint(cfg: DemoConfig, run_dir: Path) -> Path:
    """The untrained backbone (same seed and architecture) as a checkpoint: the reference row that
    shows whether pretraining moved the features at all."""
    torch.manual_seed(cfg.seed)
    net, _ = build_backbone(cfg.arch)
    atomic_torch_save(backbone_record(cfg.arch, False, net), run_dir / "last.pt")
    return run_dir


def write_report(cfg: DemoConfig, out: Path, results: dict[str, tuple[Path, dict]]) -> Path:
    """report/README.md + comparison chart + stylised views + results.json."""
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    table = ev.compare_runs([run_dir for run_dir, _ in results.values()], report / "comparison.png")
    views = results["simclr-sassl"][0] / "views.png"
    if views.exists():
        shutil.copyfile(views, report / "views.png")
    warning = (
        "**Random-weight style networks.** No VGG / decoder weights were given, so the encoder and decoder are "
        "random: the 'stylised' views are the input blended with decoded noise, not real style transfer. The "
        "numbers below check that the pipeline runs end to end; they say nothing about SASSL's benefit. "
        "Pass `--encoder-weights vgg_normalised.pth --decoder decoder.pth` for real stylisation.\n"
        if cfg.random_weights else ""
    )
    lines = [
        "# sassl demo report", "", warning,
        f"Data: {cfg.classes} generated texture classes; pretraining {cfg.classes * cfg.pretrain_per_class} images "
        f"(labels unused by SimCLR), evaluation train/val/test {', '.join(str(cfg.classes * n) for n in cfg.eval_per_class)}.",
        f"Pretraining: SimCLR, {cfg.arch}, {cfg.image_size} px crops, batch {cfg.batch_size}, {cfg.epochs} epochs, "
        f"seed {cfg.seed}; `simclr-sassl` adds SASSL on view 1 (p=0.8, alpha, beta ~ U(0.1, 0.3), in-batch styles, "
        "content features from the bank). `random-init` is the untrained backbone, for reference.",
        "", "## Results", "", table, "", "![comparison](comparison.png)", "",
        "## Views", "", "First batch of the SASSL run; rows: view 1 without style, view 1 with SASSL (same crop and "
        "colour parameters; beta <= 0.3 keeps the change subtle), view 2:", "", "![views](views.png)", "",
        "## Stage times (s)", "", "| stage | seconds |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in cfg.stage_seconds.items()], "",
    ]
    atomic_write_text(report / "README.md", "\n".join(lines))
    payload = {"config": asdict(cfg), "results": {k: res for k, (_, res) in results.items()}}
    atomic_write_text(report / "results.json", json.dumps(payload, indent=2, default=str))
    return report / "README.md"
