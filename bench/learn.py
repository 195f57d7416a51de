"""Does sassl's SimCLR learn on small data? sassl's recipes against a peer recipe, same data and budget.

Data (``--data``):
- ``digits``: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes), upscaled
  bicubically to 32 px RGB. Stratified split (seed 0): 1,198 images pretrain without labels and form
  the probes' train (998) + val (200) sets; 599 are the held-out test set.
- ``photos``: the demo's data (``sassl.demo.photos``: grey crops of ten photographs that scikit-image
  ships, one class per photo) at 40 px, split as the demo splits it: 1,000 pretraining crops, and
  200 / 100 / 400 other crops as the probes' train / val / test sets.

Rows (all the same backbone, seed, batch and number of steps):
- ``untrained``: the randomly initialised backbone (the reference every pretrained row must beat);
- ``peer``: an independent plain-torch transcription of lightly's CIFAR-10 SimCLR benchmark recipe
  (torchvision transforms on the CPU: RandomResizedCrop(scale 0.08-1), flip, ColorJitter(0.4, 0.4,
  0.4, 0.1) p=0.8, grayscale p=0.2, no blur; projection head feat-feat-128 with BN; NT-Xent at
  temperature 0.5 written here, not sassl's; SGD lr 0.06 x batch/128, momentum 0.9, weight decay 5e-4
  on all parameters, cosine decay, no warmup). Nothing of sassl's trainer, views or loss is used;
- ``sassl standard`` / ``sassl small``: ``sassl train --method simclr --style none --recipe ...``
  through the library's ``train``;
- ``--ablation`` adds one-change variants: the standard recipe with one setting of the small recipe
  each (which setting closes the gap), and the small recipe with one setting of the peer's each (what
  still differs from the peer: half-strength colour jitter, a projector as wide as the feature).

Every row is evaluated by ``sassl eval``'s protocol (frozen features at the data's size, L-BFGS linear
probe with w chosen on val among 12 values and refit on train+val; weighted kNN, k = 20), on the same split.

    .venv/bin/python bench/learn.py --out /tmp/learn                 # 3 trainings, ~2 min each on 2 cores
    .venv/bin/python bench/learn.py --out /tmp/learn --ablation      # + 6 one-change variants
    .venv/bin/python bench/learn.py --out /tmp/learn --data photos   # the demo's data
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision import datasets
from torchvision.transforms import v2

from common import markdown_table
from sassl.atomic import atomic_torch_save, atomic_write_text
from sassl import evaluate as ev
from sassl.imagenet import IMAGENET_MEAN, IMAGENET_STD
from sassl.backbone import backbone_record, build_backbone
from sassl.train.loop import TrainConfig, train
from sassl.train.recipes import Recipe, resolve_recipe

SIZE = 32  # the training views' side (the small recipe's range)
PHOTO_SIZE = 40  # the demo's bank size
# A coarser probe than `sassl eval`'s default (12 of its 45 w values, 100 L-BFGS iterations per fit): the
# weakly regularised fits on unnormalised 128-d features take minutes each on 2 cores at full length.
PROBES = (ev.LinearProbe(ev.WD_GRID[::4], ev.LBFGSConfig(max_iter=100)), ev.KNNProbe())


def write_digits(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """The digits as PNG folders: ``pretrain/<class>/`` (train + val) and ``eval/{train,val,test}/<class>/``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    done = root / "DONE"
    if not done.exists():
        x, y = load_digits(return_X_y=True)
        idx = np.arange(len(y))
        rest, test = train_test_split(idx, test_size=1 / 3, stratify=y, random_state=seed)
        train_i, val_i = train_test_split(rest, test_size=200, stratify=y[rest], random_state=seed)
        splits = {"eval/train": train_i, "eval/val": val_i, "eval/test": test, "pretrain": rest}
        for name, ids in splits.items():
            for i in ids:
                img = Image.fromarray((x[i].reshape(8, 8) * 255 / 16).astype(np.uint8)).resize((SIZE, SIZE), Image.BICUBIC)
                folder = root / name / str(y[i])
                folder.mkdir(parents=True, exist_ok=True)
                img.convert("RGB").save(folder / f"{i:04d}.png")
        atomic_write_text(done, "")
    return root / "pretrain", root / "eval"


def write_photos(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """The demo's photo crops, split as the demo splits them, as folders: ``pretrain/<class>/`` and
    ``eval/{train,val,test}/<class>/``."""
    from sassl.demo import photos
    from sassl.demo.pipeline import DemoConfig

    done = root / "DONE"
    if not done.exists():
        demo = DemoConfig()
        photos.write_folder(root / "pretrain", photos.samples(demo.pretrain_per_class, PHOTO_SIZE, seed))
        for i, (split, n) in enumerate(zip(("train", "val", "test"), demo.eval_per_class)):
            photos.write_folder(root / "eval" / split, photos.samples(n, PHOTO_SIZE, seed + 1 + i))
        atomic_write_text(done, "")
    return root / "pretrain", root / "eval"


DATA = {"digits": (write_digits, SIZE), "photos": (write_photos, PHOTO_SIZE)}  # name -> (writer, image side)


# ---- the peer recipe (independent of sassl's trainer, views and loss) ----

def peer_nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over 2N embeddings ``z`` = [view 1; view 2] (lightly's NTXentLoss without a memory bank)."""
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))
    target = torch.arange(n2).roll(n2 // 2)
    return F.cross_entropy(sim, target)


class TwoViews:
    def __init__(self, transform: v2.Transform) -> None:
        self.t = transform

    def __call__(self, img: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        return self.t(img), self.t(img)


def train_peer(pretrain: Path, arch: str, steps: int, batch: int, seed: int, out: Path) -> Path:
    """Train the peer recipe for ``steps`` optimiser steps; returns a checkpoint ``sassl eval`` reads."""
    ckpt = out / "last.pt"
    if ckpt.exists():
        return ckpt
    torch.manual_seed(seed)
    backbone, dim = build_backbone(arch, small_stem=True)
    head = nn.Sequential(nn.Linear(dim, dim), nn.BatchNorm1d(dim), nn.ReLU(), nn.Linear(dim, 128))
    model = nn.Sequential(backbone, head)
    transform = v2.Compose([
        v2.PILToTensor(), v2.RandomResizedCrop(SIZE, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    data = datasets.ImageFolder(str(pretrain), transform=TwoViews(transform))
    loader = torch.utils.data.DataLoader(data, batch, shuffle=True, drop_last=True, num_workers=1,
                                         generator=torch.Generator().manual_seed(seed), persistent_workers=True)
    lr = 0.06 * batch / 128
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    model.train()
    step = 0
    while step < steps:
        for (a, b), _ in loader:
            loss = peer_nt_xent(model(torch.cat([a, b])), 0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == steps:
                break
    atomic_torch_save(backbone_record(arch, True, backbone), ckpt)
    return ckpt


# ---- sassl rows ----

def ablations(method: str) -> dict[str, Recipe]:
    """The standard recipe with one setting of the small recipe each, and the small recipe with one
    setting of the peer's each."""
    std, small = resolve_recipe("standard", method, SIZE), resolve_recipe("small", method, SIZE)
    half = tuple(replace(v, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1) for v in small.views)
    return {
        "standard + SGD lr 0.06/128, wd 5e-4, no warmup": replace(std, name="standard+sgd", optim=small.optim),
        "standard + temperature 0.5": replace(std, name="standard+t0.5", method_defaults=small.method_defaults),
        "standard + no blur": replace(std, name="standard+views", views=small.views),
        "standard + no warmup": replace(std, name="standard+nowarmup", optim=replace(std.optim, warmup_epochs=0)),
        "small + peer's half-strength colour jitter": replace(small, name="small+jitter0.5", views=half),
        "small + peer's projector (hidden = feature width)": replace(
            small, name="small+proj128", method_defaults={**small.method_defaults, "proj_hidden": 128}),
    }


def train_sassl(pretrain: Path, size: int, arch: str, steps: int, batch: int, seed: int, out: Path,
                recipe: Recipe) -> Path:
    cfg = TrainConfig(method="simclr", out=str(out), images=str(pretrain), style="none", arch=arch, small_stem=True,
                      image_size=SIZE, load_size=size, batch_size=batch, steps=steps, workers=1, seed=seed,
                      overwrite=True, progress=True, ckpt_every=10 ** 9)
    if not (out / "last.pt").exists():
        train(cfg, recipe)
    return out / "last.pt"


def untrained(arch: str, seed: int, out: Path) -> Path:
    torch.manual_seed(seed)
    net, _ = build_backbone(arch, small_stem=True)
    atomic_torch_save(backbone_record(arch, True, net), out / "last.pt")
    return out / "last.pt"


HEADS = {"digits": "digits (sklearn, 1,198 pretrain / 599 test, 32 px)",
         "photos": "photos (sassl.demo.photos, 1,000 pretrain / 400 test, 40 px)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="Folder for data, runs and results (reused on rerun).")
    ap.add_argument("--data", default="digits", choices=sorted(DATA), help="The data set (see the module docstring).")
    ap.add_argument("--arch", default="resnet18-narrow", help="Backbone, with the small stem (resnet18 = the issue's).")
    ap.add_argument("--steps", type=int, default=154)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablation", action="store_true", help="Also the one-change variants (see the module docstring).")
    args = ap.parse_args()
    writer, size = DATA[args.data]
    pretrain, eval_dir = writer(args.out / args.data)
    runs = args.out / f"{args.data}-{args.arch}-b{args.batch}-s{args.steps}-seed{args.seed}"
    common = (args.arch, args.steps, args.batch, args.seed)
    recipes = {"sassl --recipe standard": resolve_recipe("standard", "simclr", SIZE),
               "sassl --recipe small (auto at 32 px)": resolve_recipe("small", "simclr", SIZE)}
    if args.ablation:
        recipes |= {f"sassl {name}": recipe for name, recipe in ablations("simclr").items()}
    rows: dict[str, tuple[str, Callable[[Path], Path]]] = {
        "untrained": ("untrained", lambda d: untrained(args.arch, args.seed, d)),
        "peer (lightly CIFAR SimCLR, plain torch)": ("peer", lambda d: train_peer(pretrain, *common, d)),
    }
    for name, recipe in recipes.items():
        rows[name] = (recipe.name, lambda d, r=recipe: train_sassl(pretrain, size, *common, d, r))
    results = []
    for name, (folder, make) in rows.items():
        t0 = time.perf_counter()
        ckpt = make(runs / folder)
        t_train = time.perf_counter() - t0
        res = ev.evaluate(ckpt, ev.transfer_task(f"imagefolder:{eval_dir}"), PROBES, ev.EvalOptions(image_size=size, workers=0))
        results.append({"row": name, "linear": 100 * res["linear"]["test"], "knn20": 100 * res["knn"]["test"]["20"],
                        "train_s": round(t_train, 1)})
        print(f"{name}: linear {results[-1]['linear']:.1f}  kNN-20 {results[-1]['knn20']:.1f}  ({t_train:.0f} s)", flush=True)
    table = markdown_table(["row", "linear probe %", "kNN-20 %", "train s"],
                           [[r["row"], f"{r['linear']:.1f}", f"{r['knn20']:.1f}", r["train_s"]] for r in results])
    head = f"{HEADS[args.data]}, {args.arch} small stem, batch {args.batch}, {args.steps} steps, seed {args.seed}"
    print(head + "\n\n" + table)
    atomic_write_text(runs / "results.md", head + "\n\n" + table + "\n")
    atomic_write_text(runs / "results.json", json.dumps({"setting": vars(args) | {"out": str(args.out)}, "rows": results}, indent=1))


if __name__ == "__main__":
    main()
