"""Benchmark of `sassl precompute`: job vs encoder-only throughput, and codec size vs stylisation error.

Ratios measured in one run on one device:
1. Encoder-only forward (images already decoded, resized and on the device) vs the shard worker
   (read tar, decode, resize, JPEG, encode, codec, write tar + manifest) vs the full Ray job on a
   running local Ray (actor start and encoder loading included; the cluster's own start-up is
   printed separately). The worker/encoder ratio is the I/O + decode overhead.
2. Per codec: bytes per sample (whole sample: JPEG + features + stats + label + tar headers, the
   codec-independent parts measured on the bank the job wrote), PSNR (mean and worst image) of the
   decoded stylisation decoder(AdaIN(f_codec, z)) against decoder(AdaIN(f_fp32, z)), with z the style
   statistics blended at alpha = 0.3 (the top of SASSL's range) with another image's, and encode /
   decode speed in MB/s of fp32 features. PSNR's peak is the fp32 output's own range (max - min), so
   it does not depend on the decoder's output scale. The default codec is also timed at other zstd
   levels, and the smallest codec passing the size budget and PSNR floors is named.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import sync

from sassl.bank.codecs import CODECS, DEFAULT_CODEC, ZSTD_LEVEL, Codec, decode_features, encode_batch
from sassl.bank.format import manifest_path
from sassl.precompute.job import PrecomputeConfig, make_settings, precompute
from sassl.precompute.shard import ShardEncoder
from sassl.precompute.units import shard_units
from sassl.style import StylizerSpec, adain, load_stylizer
from sassl.style.adain import stats_code


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


def psnr(ref: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
    peak = ref.flatten(1).amax(1) - ref.flatten(1).amin(1)
    mse = (ref - test).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak.pow(2) / mse.clamp_min(1e-20))


@dataclass(frozen=True)
class CodecRow:
    """One codec's measurements; sizes in bytes per sample, speeds in MB/s of fp32 features."""

    name: str
    zstd_level: int
    total_bytes: float  # every member of a sample plus its tar headers
    feature_bytes: float
    psnr_mean: float
    psnr_worst: float
    target_psnr: float  # PSNR of the AdaIN target itself (decoder-independent)
    encode_mbs: float
    decode_mbs: float


@dataclass(frozen=True)
class SampleSizes:
    """Per-sample sizes from the written bank that do not depend on the codec."""

    other_members: float  # JPEG + style stats + label
    header_per_member: float  # tar header + padding bytes per member
    jpeg: float


def sample_sizes(info) -> SampleSizes:
    """Measure the codec-independent part of a sample and the tar overhead on the bank just written."""
    from sassl.bank.manifest import read_rows

    feature_fields = set(Codec(info.codec).fields)
    other, jpeg, members, member_bytes = [], [], 0, 0
    for shard in info.shards:
        with tarfile.open(shard) as tar:
            for m in tar:
                members += 1
                member_bytes += m.size
                if m.name.partition(".")[2] not in feature_fields:
                    other.append(m.size)
                if m.name.endswith(".jpg"):
                    jpeg.append(m.size)
    on_disk = sum(int(x) for shard in info.shards for x in read_rows(manifest_path(shard)).column("size").drop_null().to_pylist())
    return SampleSizes(sum(other) / info.num_samples, (on_disk - member_bytes) / members, float(np.mean(jpeg)))


def codec_rows(stylizer, pixels: torch.Tensor, sizes: SampleSizes, device: torch.device, zstd_levels: list[int]) -> tuple[list[CodecRow], float]:
    """Per codec (and per extra zstd level for the default): bytes, stylisation PSNR, encode/decode speed.

    Encode time covers quantisation + compression of the batch; decode time is the reader's
    per-sample ``decode_features`` on the CPU. Both are reported as MB/s of fp32 features.
    """
    stylizer = stylizer.to(device)
    enc, dec = stylizer.encoder, stylizer.decoder
    runs = [(name, ZSTD_LEVEL) for name in CODECS] + [(DEFAULT_CODEC, lvl) for lvl in zstd_levels if lvl != ZSTD_LEVEL]
    with torch.inference_mode():
        f = enc(pixels.to(device).float().div(255))
        shape, fp32_mb = tuple(f.shape[1:]), f[0].numel() * 4 / 1e6
        own = stats_code(f)
        code = stylizer.blend(own, own[torch.roll(torch.arange(len(f)), 1)], torch.full((len(f),), 0.3, device=device))
        z = (code[:, 0], code[:, 1])
        ref = dec(adain(f, *z))
        sparsity = (f == 0).float().mean().item()
        rows = []
        for name, level in runs:
            codec = Codec(name)
            start = time.perf_counter()
            coded = encode_batch(f, codec, zstd_level=level)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = [decode_features(c, codec, shape, "bench") for c in coded]
            decode_s = time.perf_counter() - start
            fq = torch.stack([torch.from_numpy(d) for d in decoded]).to(device)
            t_q = adain(fq, *z)
            p = psnr(ref, dec(t_q))
            pt = psnr(adain(f, *z).flatten(1), t_q.flatten(1))
            feature_bytes = float(np.mean([sum(len(v) for v in c.values()) for c in coded]))
            headers = sizes.header_per_member * (len(codec.fields) + 3)  # + jpg, style.npy, cls
            rows.append(CodecRow(name, level, sizes.other_members + feature_bytes + headers, feature_bytes,
                                 p.mean().item(), p.min().item(), pt.mean().item(),
                                 len(f) * fp32_mb / encode_s, len(f) * fp32_mb / decode_s))
    return rows, sparsity


def rule_pick(rows: list[CodecRow], max_kb: float, min_worst: float, min_mean: float) -> str | None:
    """The smallest codec (at the banks' zstd level) within the size budget and both PSNR floors."""
    ok = [r for r in rows if r.zstd_level == ZSTD_LEVEL and r.total_bytes <= max_kb * 1e3
          and r.psnr_worst >= min_worst and r.psnr_mean >= min_mean]
    return min(ok, key=lambda r: r.total_bytes).name if ok else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small CPU setting (24 images; about 2 minutes on 2 cores)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--encoder-weights", default="random")
    ap.add_argument("--decoder-weights", default="random", help="decoder file, or random (He-initialised)")
    ap.add_argument("--zstd-levels", type=int, nargs="*", default=[1, 9], help="extra zstd levels to time for the default codec")
    ap.add_argument("--max-kb", type=float, default=200.0, help="size budget per sample for the codec rule")
    ap.add_argument("--min-worst-db", type=float, default=38.0, help="worst-case PSNR floor (35 dB goal + margin)")
    ap.add_argument("--min-mean-db", type=float, default=40.0, help="mean PSNR floor for the codec rule")
    args = ap.parse_args()
    if args.quick:
        args.images, args.batch_size = 24, 8
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    device = torch.device(args.device)
    S = args.image_size
    stylizer = load_stylizer(StylizerSpec("adain", encoder_weights=args.encoder_weights, decoder=args.decoder_weights,
                                          allow_random_weights=True))  # random: seeded He init
    encoder = stylizer.encoder
    jpegs = photos(args.images)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = write_shards(jpegs, tmp, per_shard=max(args.batch_size, args.images // 4))
        config = PrecomputeConfig(out=str(tmp / "bank"), shards=spec, stylizer="adain", encoder_weights=args.encoder_weights,
                                  allow_random_weights=True, image_size=S, batch_size=args.batch_size, progress=False)
        worker = ShardEncoder(stylizer, make_settings(config, stylizer), device, args.batch_size, threads=os.cpu_count() or 1)
        (tmp / "w").mkdir()
        start = time.perf_counter()
        results = [worker.run(u, tmp / "w") for u in shard_units(spec)]
        worker_ips = sum(r.images for r in results) / (time.perf_counter() - start)
        import ray

        start = time.perf_counter()  # a cluster is started once; the job itself starts actors and loads encoders
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
        ray_start = time.perf_counter() - start
        try:
            start = time.perf_counter()
            summary = precompute(config)
            job_ips = summary.images / (time.perf_counter() - start)
        finally:
            ray.shutdown()

        from sassl.bank.reader import iter_bank_shard, open_bank

        info = open_bank(tmp / "bank")
        samples = [s for shard in info.shards for s in iter_bank_shard(shard, info)]
        pixels = torch.stack([s["image"] for s in samples])
        sizes = sample_sizes(info)

    enc_ips = encoder_only(encoder, pixels, args.batch_size, device)
    n_codec = min(len(pixels), 32)
    rows, sparsity = codec_rows(stylizer, pixels[:n_codec], sizes, device, args.zstd_levels)

    print(f"\n## precompute benchmark ({device}, {S} px, {len(pixels)} images, batch {args.batch_size}, "
          f"encoder {args.encoder_weights}, decoder {args.decoder_weights}, {os.cpu_count()} CPUs)\n")
    print("| path | images/s | ratio to encoder-only |\n|---|---:|---:|")
    for name, ips in (("encoder forward only", enc_ips), ("shard worker (no Ray)", worker_ips), ("full Ray job (actors + encoder load included)", job_ips)):
        print(f"| {name} | {ips:.2f} | {ips / enc_ips:.2f} |")
    print(f"\nlocal Ray cluster start-up (not in the job's figure): {ray_start:.1f} s")
    print(f"\nrelu4_1 zeros (ReLU sparsity): {100 * sparsity:.1f}%; canonical JPEG q95: {sizes.jpeg / 1e3:.1f} KB; "
          f"tar headers {sizes.header_per_member:.0f} B/member; PSNR over {n_codec} images\n")
    print("| codec | zstd level | KB/sample (all members) | KB features | stylisation PSNR mean (dB) | worst (dB) "
          "| AdaIN-target PSNR (dB) | encode MB/s | decode MB/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.name}{' (default)' if r.name == DEFAULT_CODEC and r.zstd_level == ZSTD_LEVEL else ''} | "
              f"{r.zstd_level if Codec(r.name).zstd else '-'} | {r.total_bytes / 1e3:.1f} | {r.feature_bytes / 1e3:.1f} | "
              f"{r.psnr_mean:.1f} | {r.psnr_worst:.1f} | {r.target_psnr:.1f} | {r.encode_mbs:.0f} | {r.decode_mbs:.0f} |")
    pick = rule_pick(rows, args.max_kb, args.min_worst_db, args.min_mean_db)
    print(f"\nMB/s are of fp32 features ({4 * np.prod(info.content_shape) / 1e6:.2f} MB/sample), "
          f"one process on {device}. Smallest codec with <= {args.max_kb:.0f} KB/sample, worst >= {args.min_worst_db:.0f} dB "
          f"and mean >= {args.min_mean_db:.0f} dB: {pick or 'none'} (DEFAULT_CODEC is {DEFAULT_CODEC}).")


if __name__ == "__main__":
    main()
