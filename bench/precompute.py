"""Benchmark of `sassl precompute`: job vs encoder-only throughput, and codec size vs stylisation error.

Ratios measured in one run on one device:
1. Encoder-only forward (images already decoded, resized and on the device) vs the shard worker
   (read tar, decode, resize, JPEG, encode, codec, write tar + manifest) vs the full Ray job
   (including Ray start-up). The worker/encoder ratio is the I/O + decode overhead.
2. Per codec: bytes per sample (whole sample: JPEG + features + stats) and PSNR of the decoded
   stylisation decoder(AdaIN(f_codec, z)) against decoder(AdaIN(f_fp32, z)), with z the style
   statistics blended at alpha = 0.3 (the top of SASSL's range) with another image's. PSNR's peak is
   the fp32 output's own range (max - min), so it does not depend on the decoder's output scale.

Images: the two scikit-learn sample photographs, cut into random crops of random scale (no data
set can be downloaded here). Weights: whatever --encoder-weights/--decoder-weights give; with
``random`` (the only ones available offline) the numbers describe random-feature statistics, which
are NOT those of the trained VGG -- rerun with real weights before trusting the codec choice.

    python bench/precompute.py --quick            # CPU, a couple of minutes
    python bench/precompute.py --device cuda --images 2048 --batch-size 128
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sassl.bank.codecs import CODECS, Codec, decode_features, encode_batch
from sassl.bank.format import BankSettings
from sassl.precompute.job import PrecomputeConfig, precompute
from sassl.precompute.shard import ShardEncoder
from sassl.precompute.units import shard_units
from sassl.style import Decoder, adain, blend_stats, load_decoder, load_encoder, style_stats


def photos(n: int, seed: int = 0) -> list[bytes]:
    """``n`` JPEGs cut from the scikit-learn sample photos (random box, random size)."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    sources = load_sample_images().images
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        h, w = img.shape[:2]
        side = int(rng.integers(h // 2, h))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(img[y : y + side, x : x + side]).resize((int(side * 1.2), side))
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def write_shards(jpegs: list[bytes], folder: Path, per_shard: int) -> str:
    """ImageNet-style shards (key.jpg + key.cls); returns the brace spec."""
    n = (len(jpegs) + per_shard - 1) // per_shard
    for s in range(n):
        with tarfile.open(folder / f"bench-{s:04d}.tar", "w") as tar:
            for i, data in enumerate(jpegs[s * per_shard : (s + 1) * per_shard]):
                for ext, blob in (("jpg", data), ("cls", b"0")):
                    info = tarfile.TarInfo(f"img{s:04d}_{i:05d}.{ext}")
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))
    return str(folder / f"bench-{{0000..{n - 1:04d}}}.tar")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def encoder_only(encoder, pixels: torch.Tensor, batch: int, device: torch.device) -> float:
    """images/s of the forward pass alone on device-resident uint8 images."""
    enc = encoder.to(device).to(memory_format=torch.channels_last)
    x = pixels.to(device)
    with torch.inference_mode():
        enc(x[:batch].float().div(255).contiguous(memory_format=torch.channels_last))  # warm-up
        sync(device)
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            enc(x[i : i + batch].float().div(255).contiguous(memory_format=torch.channels_last))
        sync(device)
    return len(x) / (time.perf_counter() - start)


def signal_preserving_random_decoder():
    """A random decoder with He-normal weights and zero biases.

    PyTorch's default init shrinks the signal at every layer, so a default random decoder's output
    is mostly its biases and padding effects and hides any feature error (PSNR near 100 dB).
    He init keeps the features' variation in the output, a fairer stand-in for a trained decoder.
    """
    torch.manual_seed(0)
    decoder = Decoder()
    for m in decoder.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return decoder.eval()


def psnr(ref: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    peak = ref.flatten(1).amax(1) - ref.flatten(1).amin(1)
    mse = (ref - test).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak.pow(2) / mse.clamp_min(1e-20))


def codec_table(encoder, decoder, pixels: torch.Tensor, jpeg_bytes: float, device: torch.device) -> list[tuple]:
    """Per codec: mean bytes/sample, mean feature bytes, mean and worst PSNR of the stylisation."""
    enc, dec = encoder.to(device), decoder.to(device)
    with torch.inference_mode():
        f = enc(pixels.to(device).float().div(255))
        mean, std = style_stats(f)
        perm = torch.roll(torch.arange(len(f)), 1)
        z = blend_stats((mean, std), (mean[perm], std[perm]), torch.full((len(f),), 0.3, device=device))
        ref = dec(adain(f, *z))
        sparsity = (f == 0).float().mean().item()
        rows = []
        for name in CODECS:
            codec = Codec(name)
            coded = encode_batch(f, codec)
            nbytes = np.mean([sum(len(v) for v in c.values()) for c in coded])
            fq = torch.stack([torch.from_numpy(decode_features(c, codec, tuple(f.shape[1:]), "bench")) for c in coded]).to(device)
            t_q = adain(fq, *z)
            p = psnr(ref, dec(t_q))
            pt = psnr(adain(f, *z).flatten(1), t_q.flatten(1))
            rows.append((name, nbytes + jpeg_bytes + 2 * 512 * 4 + 128, nbytes, p.mean().item(), p.min().item(), pt.mean().item()))
    return rows, sparsity


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small CPU setting (24 images; about 2 minutes on 2 cores)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--encoder-weights", default="random")
    ap.add_argument("--decoder-weights", default="random", help="decoder file, or random (He-initialised)")
    args = ap.parse_args()
    if args.quick:
        args.images, args.batch_size = 24, 8
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    device = torch.device(args.device)
    S = args.image_size
    encoder = load_encoder(args.encoder_weights, allow_random=True)
    decoder = signal_preserving_random_decoder() if args.decoder_weights == "random" else load_decoder(args.decoder_weights)[0]
    jpegs = photos(args.images)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = write_shards(jpegs, tmp, per_shard=max(args.batch_size, args.images // 4))
        settings = BankSettings("content", encoder.fingerprint, S, "int8+zstd", 95)
        worker = ShardEncoder(encoder, settings, device, args.batch_size, threads=os.cpu_count() or 1)
        (tmp / "w").mkdir()
        start = time.perf_counter()
        results = [worker.run(u, tmp / "w") for u in shard_units(spec)]
        worker_ips = sum(r.images for r in results) / (time.perf_counter() - start)
        config = PrecomputeConfig(out=str(tmp / "bank"), shards=spec, encoder_weights=args.encoder_weights,
                                  allow_random_weights=True, image_size=S, batch_size=args.batch_size, progress=False)
        start = time.perf_counter()
        summary = precompute(config)
        job_ips = summary.images / (time.perf_counter() - start)

        from sassl.bank.reader import iter_bank_shard, open_bank

        info = open_bank(tmp / "bank")
        samples = [s for shard in info.shards for s in iter_bank_shard(shard, info)]
        pixels = torch.stack([s["image"] for s in samples])
        jpeg_bytes = np.mean([len(b) for b in _canonical_jpegs(info)])

    enc_ips = encoder_only(encoder, pixels, args.batch_size, device)
    n_codec = min(len(pixels), 32)
    rows, sparsity = codec_table(encoder, decoder, pixels[:n_codec], jpeg_bytes, device)

    print(f"\n## precompute benchmark ({device}, {S} px, {len(pixels)} images, batch {args.batch_size}, "
          f"encoder {args.encoder_weights}, decoder {args.decoder_weights}, {os.cpu_count()} CPUs)\n")
    print("| path | images/s | ratio to encoder-only |\n|---|---:|---:|")
    for name, ips in (("encoder forward only", enc_ips), ("shard worker (no Ray)", worker_ips), ("full Ray job incl. start-up", job_ips)):
        print(f"| {name} | {ips:.2f} | {ips / enc_ips:.2f} |")
    print(f"\nrelu4_1 zeros (ReLU sparsity): {100 * sparsity:.1f}%; canonical JPEG q95: {jpeg_bytes / 1e3:.1f} KB\n")
    print("| codec | KB/sample (all members) | KB features | stylisation PSNR mean (dB) | worst (dB) | AdaIN-target PSNR (dB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, total, feats, pmean, pmin, ptarget in rows:
        print(f"| {name} | {total / 1e3:.1f} | {feats / 1e3:.1f} | {pmean:.1f} | {pmin:.1f} | {ptarget:.1f} |")


def _canonical_jpegs(info) -> list[bytes]:
    out = []
    for shard in info.shards:
        with tarfile.open(shard) as tar:
            out += [tar.extractfile(m).read() for m in tar if m.name.endswith(".jpg")]
    return out


if __name__ == "__main__":
    main()
