"""Encoder vs decoder cost per image, and the SASSL block with and without precomputed features.

Why: the bank design rests on the VGG encoder costing as much as (or more than) the decoder; this
measures it on the machine at hand. Ratios come from one run, on the same device and batch.

    python bench/stylize.py [--size 224] [--batch 8] [--repeats 5] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch

from common import markdown_table, median_time

from sassl.device import resolve_device
from sassl.style import SASSL, Decoder, load_encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = load_encoder("random", allow_random=True).to(device)  # timing does not depend on the weights
    dec = Decoder().to(device).eval().requires_grad_(False)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    feats = enc(x)
    gen = torch.Generator().manual_seed(0)
    online, offline = SASSL(dec, enc), SASSL(dec)
    with torch.no_grad():
        t_enc = median_time(lambda: enc(x), device, args.repeats)
        t_dec = median_time(lambda: dec(feats), device, args.repeats)
        t_online = median_time(lambda: online(x, generator=gen), device, args.repeats)
        t_bank = median_time(lambda: offline(x, content_feats=feats, generator=gen), device, args.repeats)
    per = lambda t: f"{1000 * t / args.batch:.1f}"  # noqa: E731
    rows = [
        ["VGG-19 encoder to relu4_1", per(t_enc), "1.00"],
        ["AdaIN decoder", per(t_dec), f"{t_dec / t_enc:.2f}"],
        ["SASSL block, online (encoder + decoder, p=0.8)", per(t_online), f"{t_online / t_enc:.2f}"],
        ["SASSL block, from bank features (p=0.8)", per(t_bank), f"{t_bank / t_enc:.2f}"],
    ]
    print(f"device={device} size={args.size} batch={args.batch} threads={torch.get_num_threads()}")
    print(markdown_table(["stage", "ms / image", "x encoder"], rows))
    print(f"bank saves {t_online / t_bank:.2f}x on the SASSL block")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(device), "size": args.size, "batch": args.batch,
                                               "encoder_s": t_enc, "decoder_s": t_dec, "online_s": t_online, "bank_s": t_bank}))


if __name__ == "__main__":
    main()
