"""Benchmark: what checking every sample's checksum costs the bank reader.

Writes an AdaIN content bank (its features are what makes a sample large: default codec, 224 px,
random VGG encoder, crops of scikit-image's sample photos, ``bench/photos.py``) with the real
precompute job in-process, then reads all of it with
``iter_bank_items(verify=True)`` and ``verify=False`` in alternation, ``--repeats`` times each,
and prints the median samples/s of both and their ratio. It also prints the cost of the hash alone
(SHA-256, the manifest's) and, for comparison, of blake2b and zlib.crc32 on the same sample bytes.
One reader process, as one DataLoader worker; the trainer runs several.

    python bench/reader.py --images 64 --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import torch

from photos import write_photo_folder

from sassl.bank.format import manifest_path
from sassl.bank.manifest import read_rows
from sassl.bank.reader import iter_bank_items, open_bank
from sassl.precompute.job import PrecomputeConfig, precompute


def read_rate(info, verify: bool) -> float:
    start = time.perf_counter()
    n = sum(1 for shard in info.shards for item in iter_bank_items(shard, info, verify) if isinstance(item, dict))
    assert n == info.num_samples
    return n / (time.perf_counter() - start)


def sample_blobs(info) -> list[bytes]:
    blobs = []
    for shard in info.shards:
        data = Path(shard).read_bytes()
        blobs += [data[r["offset"] : r["offset"] + r["size"]] for r in read_rows(manifest_path(shard)).to_pylist() if r["key"]]
    return blobs


def hash_rate(fn, blobs: list[bytes], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for b in blobs:
            fn(b)
        times.append(time.perf_counter() - start)
    return len(blobs) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one loader worker's share
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_photo_folder(Path(tmp) / "in", args.images, args.image_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary = precompute(PrecomputeConfig(out=f"{tmp}/bank", image_folder=str(folder), image_size=args.image_size,
                                                  stylizer="adain", encoder_weights="random", allow_random_weights=True,
                                                  shard_size=max(1, args.images // 4), batch_size=16, progress=False,
                                                  in_process=True))
        assert summary.ok
        info = open_bank(f"{tmp}/bank")
        read_rate(info, True)  # warm the page cache and the decoders
        rates = {True: [], False: []}
        for _ in range(args.repeats):
            for verify in (True, False):
                rates[verify].append(read_rate(info, verify))
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        blobs = sample_blobs(info)
        size = sum(map(len, blobs)) / len(blobs)
        print(f"bank: {info.num_samples} samples, codec {info.codec}, {args.image_size} px, {size / 1e3:.1f} KB/sample")
        print("| reader | samples/s | ms/sample |\n|---|---:|---:|")
        print(f"| verify=False | {off:.1f} | {1e3 / off:.2f} |")
        print(f"| verify=True (SHA-256 per sample) | {on:.1f} | {1e3 / on:.2f} |")
        print(f"checksum cost: {100 * (off / on - 1):.1f}% of read time ({1e3 / on - 1e3 / off:.3f} ms/sample)")
        print("| hash alone | samples/s | MB/s |\n|---|---:|---:|")
        for name, fn in (("sha256", lambda b: hashlib.sha256(b).digest()),
                         ("blake2b", lambda b: hashlib.blake2b(b).digest()), ("zlib.crc32", zlib.crc32)):
            r = hash_rate(fn, blobs, args.repeats)
            print(f"| {name} | {r:.0f} | {r * size / 1e6:.0f} |")


if __name__ == "__main__":
    main()
