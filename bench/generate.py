"""Benchmark of `sassl generate`: images/s of one worker, and the share of its time outside the generator.

One shard worker (what each Ray actor runs) writes a shard of photo crops: read tar, decode, resize,
generate K views per image, resize to the stored size, JPEG, write tar + manifest. The generator is
wrapped in a timer, so the run splits into time inside the pipeline call and time outside it
(decode, resize, JPEG, write, Python glue); the goal is < 10% outside. Also printed: images/s of the
pipeline call alone.

Without --generator the tiny random unCLIP pipeline (sassl.generate.tiny) is timed at two generated
sizes on the CPU; it costs a tiny fraction of the real model, so its "outside" share is an upper
bound of the real one (the outside work per image is the same, the pipeline far cheaper). With
--generator PATH_OR_ID (real weights, e.g. stabilityai/stable-diffusion-2-1-unclip-small on a GPU)
the real settings are timed (10 steps, guidance 10, 768 px -> 224 px).

    python bench/generate.py --quick                   # CPU, tiny pipeline, 32 and 64 px
    python bench/generate.py --generator stabilityai/stable-diffusion-2-1-unclip-small --images 8 --batch-size 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from common import markdown_table
from precompute import photos

from sassl.bank.format import GeneratedSettings
from sassl.generate.generators import GeneratorSpec
from sassl.generate.worker import ShardGenerator
from sassl.precompute.units import shard_units


class Timed:
    """Wraps a generator; accumulates the seconds spent inside its calls."""

    def __init__(self, generator) -> None:
        self.generator, self.seconds, self.images = generator, 0.0, 0

    def __call__(self, images, seeds):
        t = time.perf_counter()
        out = self.generator(images, seeds)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - t
        self.images += len(seeds)
        return out


def write_input_shard(path: Path, n: int) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for i, data in enumerate(photos(n)):
            for name, blob in ((f"img{i:05d}.jpg", data), (f"img{i:05d}.cls", b"0")):
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    return path


def run(spec: GeneratorSpec, shard: Path, views: int, image_size: int, batch: int, device: str, out: Path) -> list:
    settings = GeneratedSettings(spec.kind, spec.fingerprint, spec.settings(), views, 0, image_size, 95)
    timed = Timed(spec.load(device))
    worker = ShardGenerator(timed, settings, spec.size, batch, torch.get_num_threads())
    unit = shard_units(str(shard))[0]
    worker.run(unit, out / "warmup")  # first call: lazy imports, allocator, kernels
    timed.seconds = timed.images = 0
    t = time.perf_counter()
    result = worker.run(unit, out / "timed")
    total = time.perf_counter() - t
    assert result.failed is None and result.errors == 0, result
    n = result.images * views
    return [spec.size, spec.steps, f"{n / total:.2f}", f"{timed.images / timed.seconds:.2f}",
            f"{100 * (1 - timed.seconds / total):.1f}%"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", help="diffusers folder or hub id (default: the tiny random unCLIP pipeline)")
    ap.add_argument("--images", type=int, default=8, help="source images in the shard")
    ap.add_argument("--views", type=int, default=2, help="generated views per image (K)")
    ap.add_argument("--batch-size", type=int, default=4, help="source images per generator call")
    ap.add_argument("--image-size", type=int, default=224, help="stored side")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="4 images, K = 2")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.quick:
        args.images, args.views = 4, 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shard = write_input_shard(tmp / "in.tar", args.images)
        if args.generator is None:
            from sassl.generate.tiny import save_unclip

            folder = save_unclip(tmp / "tiny-unclip")
            specs = [GeneratorSpec.resolve(str(folder), steps=args.steps, size=s) for s in (32, 64)]
            name = "tiny random unCLIP"
        else:
            specs = [GeneratorSpec.resolve(args.generator, steps=args.steps)]
            name = args.generator
        for i, spec in enumerate(specs):
            rows.append([name] + run(spec, shard, args.views, args.image_size, args.batch_size, args.device, tmp / str(i)))
    print(f"device {args.device}, {torch.get_num_threads()} threads, {args.images} images x K={args.views}, "
          f"batch {args.batch_size} source images, stored at {args.image_size} px\n")
    print(markdown_table(["generator", "generated px", "steps", "worker images/s", "pipeline-call images/s",
                          "time outside the pipeline call"], rows))


if __name__ == "__main__":
    main()
