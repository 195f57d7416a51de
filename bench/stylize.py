"""Cost of each stylizer's parts per image, the SASSL block with and without a bank, and bank bytes.

Why: a bank pays off when the encoding part (Ghiasi's style predictor, AdaIN's VGG) costs a large share
of SASSL's online work; this measures it on the machine at hand, for both stylizers in one run, together
with what each bank costs on disk per sample. Ratios come from one run, on the same device and batch.

    python bench/stylize.py [--size 224] [--batch 8] [--repeats 5] [--device auto] [--bank-images 16]

Ghiasi runs with its real weights; AdaIN with random ones (its cost does not depend on the values, its
feature bytes somewhat do: see docs/bank-format.md).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import markdown_table, median_time
from photos import write_photo_folder

from sassl.bank.reader import open_bank
from sassl.device import resolve_device
from sassl.precompute import PrecomputeConfig, precompute
from sassl.style import SASSL, StylizerSpec, load_stylizer

SPECS = {
    "ghiasi": StylizerSpec("ghiasi"),
    "adain": StylizerSpec("adain", encoder_weights="random", decoder="random", allow_random_weights=True),
}


def gflops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def bank_kb_per_sample(name: str, folder: Path, size: int, tmp: Path) -> float:
    """On-disk KB per sample of a content bank of ``folder`` at ``size`` px, all members and headers."""
    spec = SPECS[name]
    cfg = PrecomputeConfig(out=str(tmp / f"bank-{name}"), image_folder=str(folder), image_size=size,
                           stylizer=name, encoder_weights=spec.encoder_weights,
                           allow_random_weights=spec.allow_random_weights, batch_size=8, progress=False, in_process=True)
    if not precompute(cfg).ok:
        raise RuntimeError(f"could not build the {name} benchmark bank")
    info = open_bank(cfg.out)
    return sum(Path(s).stat().st_size for s in info.shards) / info.num_samples / 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--bank-images", type=int, default=16, help="photos per bank for the bytes/sample figure")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    gen = torch.Generator().manual_seed(0)
    rows, figures = [], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stylizers = {name: load_stylizer(spec).to(device) for name, spec in SPECS.items()}
    with torch.no_grad():
        for name, st in stylizers.items():
            enc = st.encode(x)
            timed = {
                "encode": lambda: st.encode(x),
                "render": lambda: st.render(enc.content, enc.code),
                "SASSL online (p=0.8)": lambda: SASSL(st)(x, generator=gen),
                "SASSL from bank (p=0.8)": lambda: SASSL(st)(x, content=enc.content, codes=enc.code, generator=gen),
            }
            t = {k: median_time(fn, device, args.repeats) for k, fn in timed.items()}
            f = {k: gflops(fn) for k, fn in timed.items()}
            for k in timed:
                rows.append([name, k, f"{1000 * t[k] / args.batch:.1f}", f"{f[k] / args.batch:.2f}",
                             f"{t[k] / t['encode']:.2f}"])
            figures[name] = {"seconds": t, "gflop": f, "bank_saves": t["SASSL online (p=0.8)"] / t["SASSL from bank (p=0.8)"]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photo_folder(Path(tmp) / "photos", args.bank_images, args.size)
        for name in SPECS:
            figures[name]["bank_kb_per_sample"] = bank_kb_per_sample(name, folder, args.size, Path(tmp))
    print(f"device={device} size={args.size} batch={args.batch} threads={torch.get_num_threads()}")
    print(markdown_table(["stylizer", "stage", "ms / image", "GFLOP / image", "x its encode"], rows))
    for name, fig in figures.items():
        print(f"- {name}: a bank saves {fig['bank_saves']:.2f}x on the SASSL block; content bank "
              f"{fig['bank_kb_per_sample']:.1f} KB/sample at {args.size} px")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "size": args.size, "batch": args.batch,
                                               "stylizers": figures}, indent=2))


if __name__ == "__main__":
    main()
