"""Training-step cost of SASSL from a bank vs the plain method vs SASSL with the stylizer's encoder
online, for each stylizer (Ghiasi, AdaIN), of AugSelf and CASSLE vs the plain method, and the bank
loader's samples/s per worker vs what the step consumes. Ratios come from one run.

    python bench/train_step.py --quick            # CPU: resnet18, batch 8, 96 px (a few minutes)
    python bench/train_step.py --arch resnet50 --image-size 224 --batch-size 128 --device cuda
    python bench/train_step.py --only heads --arch resnet50 --batch-size 8 --steps 3   # AugSelf/CASSLE only

Ghiasi runs with its real weights; AdaIN with random ones (its cost does not depend on the values). The
step is the whole training step: both views rendered on the device, then :func:`sassl.train.step.train_step`
(the loop's own step: forward, loss, backward, optimiser steps, momentum update).
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


from common import markdown_table, sync
from photos import write_photo_folder

from sassl.device import resolve_device
from sassl.precompute import PrecomputeConfig, precompute
from sassl.style import StylizerSpec, load_stylizer
from sassl.train.cassle import DEFAULT_GROUPS
from sassl.train.data import StreamDataset, bank_spec
from sassl.train.methods import METHODS
from sassl.train.model import Trainee, build_trainee
from sassl.train.optim import build_optimizer
from sassl.train.step import train_step
from sassl.train.views import Batch, StyleConfig, ViewMaker

HEADS = {  # name -> (AugSelf weights, CASSLE groups): the authors' defaults
    "plain": (None, ()),
    "AugSelf crop,color": ({"crop": 0.5, "color": 0.5}, ()),
    "CASSLE 13-d default": (None, DEFAULT_GROUPS),
}


def canonical_size(image_size: int) -> int:
    return -(-image_size * 8 // 7 // 8) * 8


def make_bank(tmp: Path, n: int, size: int) -> Path:
    """A one-shard fp16 content bank of photo crops, written by the real job (in-process)."""
    write_photo_folder(tmp / "img", n, size + 32)
    cfg = PrecomputeConfig(out=str(tmp / "bank"), image_folder=str(tmp / "img"), image_size=size, codec="fp16",
                           stylizer="adain", encoder_weights="random", allow_random_weights=True, batch_size=8,
                           shard_size=n, progress=False, in_process=True)
    if not precompute(cfg).ok:
        raise RuntimeError("could not build the benchmark bank")
    return tmp / "bank"


@dataclass
class Pipeline:
    """What one benchmarked step runs: a view maker, its batch, and a trainee with its optimisers."""

    maker: ViewMaker
    batch: Batch
    trainee: Trainee
    optimizers: tuple


def make_trainee(method: str, arch: str, heads: tuple, device: torch.device) -> tuple[Trainee, tuple]:
    torch.manual_seed(0)
    trainee = build_trainee(method, arch, False, 1000, {}, *heads).to(device)
    if device.type == "cuda":
        trainee.to(memory_format=torch.channels_last)
    return trainee, (build_optimizer(trainee.ssl_modules(), METHODS[method].recipe, 0.01),
                     torch.optim.Adam(trainee.probe.parameters(), lr=1e-3))


def make_step(autocast):
    """One full training step of a pipeline: render both views, then the loop's train_step."""
    gen = torch.Generator().manual_seed(0)

    def step(pipe: Pipeline) -> None:
        train_step(pipe.trainee, pipe.trainee, pipe.optimizers, pipe.maker(pipe.batch, gen), 0.5, autocast)

    return step


def interleaved_step_times(step, makers: dict, steps: int, warmup: int, device,
                           clock=time.perf_counter) -> dict[str, float]:
    """Median seconds per step for each pipeline, measured round-robin (one step of each in turn)
    so that load changes on a shared machine hit all pipelines alike. ``clock`` is wall time, or the
    process CPU time (``--cpu-time``: one thread, insensitive to other jobs on a shared CPU machine)."""
    times: dict[str, list[float]] = {name: [] for name in makers}
    for i in range(warmup + steps):
        for name, maker in makers.items():
            sync(device)
            t = clock()
            step(maker)
            sync(device)
            if i >= warmup:
                times[name].append(clock() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def step_flops(step, makers: dict) -> dict[str, float]:
    """FLOPs of one step per pipeline (convolutions and matmuls, counted by torch): a hardware-
    independent check of the measured ratios."""
    out = {}
    for name, maker in makers.items():
        with FlopCounterMode(display=False) as counter:
            step(maker)
        out[name] = counter.get_total_flops()
    return out


def loader_rate(bank: Path, samples: int) -> float:
    """Samples/s of one reader (what one DataLoader worker delivers): bank decode + features."""
    ds = StreamDataset(bank_spec(bank), 0, shuffle_buffer=1)
    ds.set_position(0, 0, 1, 0)
    it = iter(ds)
    next(it)
    start = time.perf_counter()
    for _ in range(samples):
        next(it)
    return samples / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU-sized: resnet18, batch 8, 96 px, 5 steps")
    ap.add_argument("--stylizers", default="ghiasi,adain", help="comma-separated stylizers to compare")
    ap.add_argument("--method", default="simclr", choices=sorted(METHODS))
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--loader-samples", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cpu-time", action="store_true",
                    help="CPU only: one torch thread, process CPU time instead of wall time (for a shared machine)")
    ap.add_argument("--flops-only", action="store_true", help="count FLOPs per step, skip timing and the loader")
    ap.add_argument("--only", choices=("all", "style", "heads"), default="all",
                    help="style: plain vs the SASSL pipelines (and the loader); heads: plain vs AugSelf and CASSLE")
    args = ap.parse_args()
    if args.cpu_time:
        torch.set_num_threads(1)
    if args.quick:
        args.arch, args.batch_size, args.image_size, args.steps, args.warmup, args.loader_samples = "resnet18", 8, 96, 5, 1, 32
    warnings.simplefilter("ignore")
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    s = canonical_size(args.image_size)

    with tempfile.TemporaryDirectory() as tmp:
        no_loader = args.flops_only or args.only == "heads"
        n_disk = args.batch_size if no_loader else max(args.loader_samples + 1, args.batch_size)
        bank = make_bank(Path(tmp), n_disk, s)
        per_worker = None if no_loader else loader_rate(bank, args.loader_samples)
        ds = StreamDataset(bank_spec(bank), 0)
        ds.set_position(0, 0, 1, 0)
        items = [x for _, x in zip(range(args.batch_size), iter(ds))]
    images = torch.stack([x["image"] for x in items]).to(device)
    labels = torch.full((args.batch_size,), -1, device=device)

    views = METHODS[args.method].views
    plain_maker, plain_batch = ViewMaker(views, args.image_size, StyleConfig("none")).to(device), Batch(images, labels)
    plain = Pipeline(plain_maker, plain_batch, *make_trainee(args.method, args.arch, HEADS["plain"], device))
    pipelines = {"plain (--style none)": plain}
    stylizers = args.stylizers.split(",") if args.only in ("all", "style") else []
    for name in stylizers:
        stylizer = load_stylizer(StylizerSpec(name, encoder_weights="random", decoder="random",
                                              allow_random_weights=True)).to(device, dtype)
        with torch.no_grad():  # what the bank would hold for these images
            encoded = stylizer.encode(images.to(dtype) / 255)
        batch = Batch(images, labels, encoded.content.float() if stylizer.stores_content else None, encoded.code)
        make = lambda mode, scale=1.0: ViewMaker(views, args.image_size, StyleConfig(mode, decode_scale=scale),  # noqa: E731
                                                 stylizer).to(device)
        styled = lambda maker: Pipeline(maker, batch, plain.trainee, plain.optimizers)  # noqa: E731
        pipelines[f"{name}: SASSL from bank (in-batch)"] = styled(make("in-batch"))
        pipelines[f"{name}: SASSL online (--style online)"] = styled(make("online"))
        if name == "adain":
            pipelines[f"{name}: SASSL from bank, --decode-scale 0.5"] = styled(make("in-batch", 0.5))
    if args.only in ("all", "heads"):
        pipelines.update({f"{name} (--style none)": Pipeline(plain_maker, plain_batch,
                                                             *make_trainee(args.method, args.arch, heads, device))
                          for name, heads in HEADS.items() if name != "plain"})
    step = make_step(autocast)
    flops = step_flops(step, pipelines)
    times = {} if args.flops_only else interleaved_step_times(
        step, pipelines, args.steps, args.warmup, device, time.process_time if args.cpu_time else time.perf_counter)
    base_f = flops["plain (--style none)"]
    print(f"\n### Training step, {args.method} {args.arch}, batch {args.batch_size}, {args.image_size} px, "
          f"{device.type}{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}"
          f"{'' if args.flops_only else f', median of {args.steps} interleaved steps'}\n")
    if args.flops_only:
        rows = [[name, f"{f / 1e9:.1f}", f"{f / base_f:.2f}x"] for name, f in flops.items()]
        print(markdown_table(["pipeline", "GFLOP/step", "FLOPs vs plain"], rows))
        return
    plain_t = times["plain (--style none)"]
    rows = [[name, f"{t:.3f}", f"{args.batch_size / t:.1f}", f"{t / plain_t:.2f}x", f"{flops[name] / 1e9:.1f}",
             f"{flops[name] / base_f:.2f}x"] for name, t in times.items()]
    print(markdown_table(["pipeline", "s/step", "images/s", "time vs plain", "GFLOP/step", "FLOPs vs plain"], rows))
    for name in stylizers:
        bank_t, online = times[f"{name}: SASSL from bank (in-batch)"], times[f"{name}: SASSL online (--style online)"]
        f_bank, f_online = flops[f"{name}: SASSL from bank (in-batch)"], flops[f"{name}: SASSL online (--style online)"]
        print(f"- {name}: bank SASSL / plain step **{bank_t / plain_t:.2f}x** time, **{f_bank / base_f:.2f}x** FLOPs; "
              f"online / bank {online / bank_t:.2f}x time, {f_online / f_bank:.2f}x FLOPs")
    if stylizers:
        consume = args.batch_size / times[f"{stylizers[0]}: SASSL from bank (in-batch)"]
        print(f"- bank loader: **{per_worker:.1f} samples/s per worker** ({s} px canonical, AdaIN fp16 features, the "
              f"heaviest bank) vs {consume:.1f} samples/s consumed: **{consume / per_worker:.3f} workers** needed per process")
    for name in HEADS:
        if name != "plain" and args.only in ("all", "heads"):
            t, f = times[f"{name} (--style none)"], flops[f"{name} (--style none)"]
            print(f"- {name} / plain step: **{t / plain_t:.3f}x** time, {f / base_f:.3f}x FLOPs (goal <= 1.05x)")


if __name__ == "__main__":
    main()
