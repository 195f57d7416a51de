"""Cost of the Ghiasi et al. networks per image: FLOPs and time of F, T and T's style-independent prefix.

Why: a bank could store T's contract features (the convs before the first CIN) instead of pixels; this
measures what share of T they would save and what they would cost to store. FLOPs come from
torch.utils.flop_counter (convolutions and matmuls only; CIN's elementwise work is not counted).
Ratios come from one run, on the same device and batch. On CPU the time is process CPU time with one
thread by default (robust on a shared machine, where wall time measures the neighbours).

    python bench/ghiasi_cost.py [--size 224] [--batch 8] [--repeats 5] [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import markdown_table, median_time

from sassl.device import resolve_device
from sassl.style.ghiasi import load_ghiasi


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def median_cpu_time(fn, repeats: int) -> float:
    """Median process CPU time of ``fn`` in seconds, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (CPU time is summed over them)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    predictor, transformer = (m.to(device) for m in load_ghiasi())
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=gen).to(device)
    with torch.no_grad():
        z = predictor(x)
        feats = transformer.contract(x)
        stages = {
            "style predictor F": lambda: predictor(x),
            "style transformer T": lambda: transformer(x, z),
            "  T's prefix (contract convs, before the first CIN)": lambda: transformer.contract(x),
            "  T after the prefix (residual + expand, CIN)": lambda: transformer.render(feats, z),
        }
        gflop = {k: flops(fn) / args.batch / 1e9 for k, fn in stages.items()}
        if device.type == "cpu":
            secs = {k: median_cpu_time(fn, args.repeats) / args.batch for k, fn in stages.items()}
        else:
            secs = {k: median_time(fn, device, args.repeats) / args.batch for k, fn in stages.items()}
    t_key = "style transformer T"
    rows = [
        [k, f"{gflop[k]:.3f}", f"{1000 * secs[k]:.1f}", f"{gflop[k] / gflop[t_key]:.2f}", f"{secs[k] / secs[t_key]:.2f}"]
        for k in stages
    ]
    c, h, w = feats.shape[1:]
    clock = "CPU time" if device.type == "cpu" else "wall time"
    print(f"device={device} size={args.size} batch={args.batch} threads={torch.get_num_threads()} {clock}")
    print(markdown_table(["stage", "GFLOP / image", "ms / image", "FLOP share of T", "time share of T"], rows))
    print(f"prefix output per image: {c}x{h}x{w} = {c * h * w} values = {2 * c * h * w / 1024:.0f} KiB as float16 "
          f"(z: {z.shape[1]} floats = {4 * z.shape[1]} bytes)")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "size": args.size, "batch": args.batch,
                                               "gflop": gflop, "seconds": secs, "prefix_shape": [c, h, w]}, indent=1))


if __name__ == "__main__":
    main()
