"""The bank format without Ray: codecs, writer/reader round trip, manifests, verify, refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow
import pytest
import torch
from PIL import Image

from sassl.bank import BankError, check_stylizer, iter_bank_shard, load_style_bank, open_bank
from sassl.bank.reader import iter_bank_items
from sassl.bank.codecs import CODECS, Codec, CodecError, decode_features, encode_batch, npy_bytes
from sassl.bank.format import BankSettings, bank_record, manifest_path, write_bank_json
from sassl.bank.inspect import inspect_bank, verify_bank
from sassl.bank.manifest import read_rows
from sassl.bank.writer import ShardWriter
from sassl.precompute.job import PrecomputeConfig, make_settings, prepare_out
from sassl.precompute.shard import prepare
from sassl.precompute.units import InputError, folder_units, shard_units

from bank_helpers import jpeg, write_shard

SHAPE = (512, 2, 2)


def prep_out(out, s: BankSettings) -> None:
    prepare_out(out, s, bank_record(s, "test"))


def relu_feats(b: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, *SHAPE, generator=g).mul(3).relu()


@pytest.mark.parametrize("name", CODECS)
def test_codec_round_trip_error_is_bounded(name):
    feats = relu_feats()
    codec = Codec(name)
    for f, fields in zip(feats, encode_batch(feats, codec)):
        back = decode_features(fields, codec, SHAPE, "x")
        assert back.dtype == np.float32 and back.shape == SHAPE
        if codec.quantised:  # at most half a quantisation step per channel, at most 2**bits values
            step = (f.flatten(1).amax(1) - f.flatten(1).amin(1)) / codec.levels
            assert (torch.from_numpy(back) - f).abs().flatten(1).amax(1).le(step / 2 + 1e-5).all()
            assert max(len(np.unique(channel)) for channel in back) <= codec.levels + 1
        else:
            assert torch.allclose(torch.from_numpy(back), f, rtol=1e-3, atol=1e-3)


def test_codec_rejects_wrong_shape_and_corrupt_zstd():
    feats = relu_feats(1)
    fields = encode_batch(feats, Codec("fp16"))[0]
    with pytest.raises(CodecError, match="expected float16"):
        decode_features(fields, Codec("fp16"), (512, 3, 3), "k")
    z = encode_batch(feats, Codec("int8+zstd"))[0]
    z["feats.zst"] = z["feats.zst"][:-5]
    with pytest.raises(CodecError, match="k"):
        decode_features(z, Codec("int8+zstd"), SHAPE, "k")
    with pytest.raises(ValueError, match="unknown feature codec"):
        Codec("bf16")


@pytest.mark.parametrize("name", [c for c in CODECS if c.startswith("int") and not c.startswith("int8")])
def test_low_bit_codec_rejects_corrupt_members(name):
    codec = Codec(name)
    fields = encode_batch(relu_feats(1), codec)[0]
    truncated = {**fields, "feats.zst": fields["feats.zst"][:-5]}
    with pytest.raises(CodecError, match="k"):
        decode_features(truncated, codec, SHAPE, "k")
    out_of_range = np.full(SHAPE, codec.levels + 1, np.uint8)  # a valid zstd frame holding impossible codes
    bad = {**fields, "feats.zst": pyarrow.Codec("zstd").compress(out_of_range.tobytes(), asbytes=True)}
    with pytest.raises(CodecError, match=f"k: feature codes exceed {codec.levels}"):
        decode_features(bad, codec, SHAPE, "k")
    with pytest.raises(CodecError, match="missing feature member"):
        decode_features({"feats.zst": fields["feats.zst"]}, codec, SHAPE, "k")


def test_default_codec_meets_the_size_goal_on_the_benchmark_photos(tmp_path):
    """<= 200 KB per 224 px sample on disk (JPEG + features + stats + label + tar headers).

    The data are those of bench/precompute.py: crops of the scikit-learn sample photos through the
    real preparation path (canonical JPEG q95) and the random VGG, the only weights available offline.
    """
    from sklearn.datasets import load_sample_images

    from sassl.precompute.job import PrecomputeConfig, make_settings
    from sassl.precompute.shard import ShardEncoder
    from sassl.sources import RawSample
    from sassl.style import StylizerSpec, load_stylizer

    with pytest.warns(UserWarning):
        encoder = load_stylizer(StylizerSpec("adain", encoder_weights="random", allow_random_weights=True), "encode")
    s = make_settings(PrecomputeConfig(out="unused", shards="unused"), encoder)
    raws = []
    for i, photo in enumerate(load_sample_images().images):
        for j, (y, x, side) in enumerate([(0, 0, 427), (100, 200, 300)]):
            buf = io.BytesIO()
            Image.fromarray(photo[y : y + side, x : x + side]).save(buf, "JPEG", quality=90)
            raws.append(RawSample(f"p{i}.{j}", buf.getvalue(), "jpg", i, "photos"))
    worker = ShardEncoder(encoder, s, "cpu", batch_size=4, threads=1)
    batch = [prepare(r, s.image_size, s.jpeg_quality) for r in raws]
    tar = tmp_path / "photos.tar"
    with ShardWriter(tar, "photos") as w:
        for raw, fields in zip(raws, worker.encode(batch)):
            w.add(raw.key, raw.label, fields)
    sizes = read_rows(manifest_path(tar)).column("size").to_pylist()
    assert len(sizes) == 4 and max(sizes) <= 200_000


def settings(kind: str = "content", fp: str = "abc", codec: str = "int8+zstd") -> BankSettings:
    content = kind == "content"
    return BankSettings(kind, "adain", fp, (2, 512), 16, codec if content else None, 95 if content else None,
                        "relu4_1" if content else None, SHAPE if content else None)


def make_bank(root: Path, keys: list[str], codec: str = "int8+zstd") -> tuple[Path, torch.Tensor]:
    """A content bank written straight through ShardWriter, with one recorded error."""
    s = settings(codec=codec)
    write_bank_json(root, bank_record(s, "test"))
    feats = relu_feats(len(keys))
    stats = torch.stack([feats.flatten(2).mean(-1), feats.flatten(2).std(-1)], 1).numpy()
    img = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (16, 16), (10, 200, 30)).save(img, "JPEG")
    tar = root / "part-000.tar"
    with ShardWriter(tar, "test") as w:
        for i, (k, coded) in enumerate(zip(keys, encode_batch(feats, Codec(codec)))):
            w.add(k, i if i else None, {**coded, "style.npy": npy_bytes(stats[i]), "jpg": img.getvalue()})
        w.add_error("broken.key", 7, "broken.key: cannot decode image")
    return tar, feats


def test_writer_reader_round_trip_with_dotted_and_colliding_keys(tmp_path):
    keys = ["n0144.10026", "n0144_10026", "plain"]
    tar, feats = make_bank(tmp_path, keys)
    info = open_bank(tmp_path)
    assert info.shards == [str(tar)] and info.num_samples == 3 and info.num_errors == 1
    assert info.content_shape == SHAPE and info.code_shape == (2, 512) and info.stylizer == "adain"
    samples = list(iter_bank_shard(tar, info))
    assert [s["key"] for s in samples] == ["n0144_10026", "n0144_10026_1", "plain"]
    assert [s["label"] for s in samples] == [-1, 1, 2]
    assert samples[0]["image"].shape == (3, 16, 16) and samples[0]["image"].dtype == torch.uint8
    assert torch.allclose(torch.stack([s["content"] for s in samples]), feats, atol=0.05)
    rows = read_rows(manifest_path(tar)).to_pylist()
    assert [r["orig_key"] for r in rows] == keys + ["broken.key"]
    assert rows[-1]["key"] is None and "cannot decode" in rows[-1]["error"]
    _, codes = load_style_bank(tmp_path)
    assert codes.shape == (3, 2, 512) and torch.equal(codes[2], samples[2]["code"])


def test_output_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    ta, _ = make_bank(a, ["x", "y"])
    tb, _ = make_bank(b, ["x", "y"])
    assert ta.read_bytes() == tb.read_bytes()


def test_shard_without_manifest_is_invisible_and_verify_finds_corruption(tmp_path):
    tar, _ = make_bank(tmp_path, ["a", "b"])
    (tmp_path / "part-001.tar").write_bytes(tar.read_bytes())  # finished tar, no manifest yet
    assert open_bank(tmp_path).shards == [str(tar)]
    assert verify_bank(tmp_path).ok
    data = bytearray(tar.read_bytes())
    data[700] ^= 0xFF  # inside the first sample's members
    tar.write_bytes(bytes(data))
    result = verify_bank(tmp_path)
    assert not result.ok and "fails its checksum" in result.problems[0]
    report = inspect_bank(tmp_path)
    assert any("part-001.tar" in line for line in report.lines) and report.errors[0][1] == "broken.key"


def test_reader_refuses_unknown_members_and_truncated_shards(tmp_path):
    tar, _ = make_bank(tmp_path, ["a", "b"])
    info = open_bank(tmp_path)
    evil = tmp_path / "evil.tar"
    with ShardWriter(evil, "test") as w:  # a checksummed sample carrying a pickle member
        w.add("a", None, {"pyd": b"\x80\x04N."})
    with pytest.raises(BankError, match="pyd"):
        list(iter_bank_shard(evil, info))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(tar.read_bytes()[:1500])
    manifest_path(cut).write_bytes(manifest_path(tar).read_bytes())
    with pytest.raises(BankError, match="cut.tar"):
        list(iter_bank_shard(cut, info))


def test_reader_skips_a_flipped_byte_and_reads_on(tmp_path):
    tar, _ = make_bank(tmp_path, ["a", "b", "c"])
    info = open_bank(tmp_path)
    rows = [r for r in read_rows(manifest_path(tar)).to_pylist() if r["key"]]
    data = bytearray(tar.read_bytes())
    data[rows[1]["offset"] + rows[1]["size"] - 600] ^= 0x01  # inside sample b's last member
    tar.write_bytes(bytes(data))
    items = list(iter_bank_items(tar, info))
    assert [i["key"] if isinstance(i, dict) else "ERR" for i in items] == ["a", "ERR", "c"]
    assert "b: bytes" in str(items[1]) and "checksum" in str(items[1])
    assert len(list(iter_bank_items(tar, info, verify=False))) == 3  # unverified, the damage goes unseen


def test_check_stylizer(tmp_path):
    from types import SimpleNamespace

    make_bank(tmp_path, ["a"])
    info = open_bank(tmp_path)
    check_stylizer(info, SimpleNamespace(name="adain", fingerprint="abc", source="test"))
    with pytest.raises(BankError, match="bank made by stylizer adain abc .* this run uses adain zzz"):
        check_stylizer(info, SimpleNamespace(name="adain", fingerprint="zzz", source="test"))
    with pytest.raises(BankError, match="this run uses ghiasi abc"):
        check_stylizer(info, SimpleNamespace(name="ghiasi", fingerprint="abc", source="test"))


def test_open_bank_refusals(tmp_path):
    with pytest.raises(BankError, match="not found"):
        open_bank(tmp_path / "nope")
    with pytest.raises(BankError, match="bank.json"):
        open_bank(tmp_path)
    (tmp_path / "bank.json").write_text('{"version": 99}')
    with pytest.raises(BankError, match="version 99"):
        open_bank(tmp_path)


@pytest.mark.parametrize("version", [1, 2])
def test_adain_only_banks_of_versions_1_and_2_are_read_but_not_resumed(tmp_path, version):
    """Versions 1-2 were AdaIN-only (2 added codecs): they read as AdaIN banks; writing into one is refused."""
    tar, feats = make_bank(tmp_path, ["a", "b"])
    old = {"version": version, "kind": "content", "encoder_fingerprint": "abc", "encoder_source": "vgg.pth",
           "feature_layer": "relu4_1", "feature_shape": list(SHAPE), "image_size": 16, "codec": "int8+zstd",
           "jpeg_quality": 95, "shard_size": None, "totals": None}  # a version-2 bank.json, verbatim layout
    (tmp_path / "bank.json").write_text(json.dumps(old))
    info = open_bank(tmp_path)
    assert info.version == version and info.shards == [str(tar)]
    assert (info.stylizer, info.stylizer_fingerprint, info.stylizer_source) == ("adain", "abc", "vgg.pth")
    assert info.content_shape == SHAPE and info.code_shape == (2, 512)
    assert torch.allclose(torch.stack([s["content"] for s in iter_bank_shard(tar, info)]), feats, atol=0.05)
    with pytest.raises(BankError, match=f"version: {version} != 3"):
        prep_out(tmp_path, settings())


def test_rerun_with_other_settings_or_bad_inputs_is_refused_before_work(tmp_path):
    out = tmp_path / "bank"
    prep_out(out, settings())
    (out / ".part-000.tar.x1y2.tmp").write_bytes(b"partial")
    prep_out(out, settings())  # same settings: accepted, stale temp removed
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(BankError, match="codec: 'int8\\+zstd' != 'fp16'"):
        prep_out(out, settings(codec="fp16"))
    with pytest.raises(BankError, match="stylizer_fingerprint"):
        prep_out(out, settings(fp="other"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not writable"):
        prep_out(tmp_path / "file" / "bank", settings())
    with pytest.raises(InputError, match="not found"):
        shard_units(str(tmp_path / "missing-{0..2}.tar"))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_shard(a / "s.tar", ["k"]), write_shard(b / "s.tar", ["k"])
    with pytest.raises(InputError, match="both write s.tar"):
        shard_units([str(a / "s.tar"), str(b / "s.tar")])
    from types import SimpleNamespace

    adain_like = SimpleNamespace(name="adain", content_stride=8, min_size=8)
    with pytest.raises(InputError, match="multiple of 8"):
        make_settings(PrecomputeConfig(out=str(out), shards="x", image_size=30), adain_like)


def test_folder_units_are_stable_chunks(tmp_path):
    root = tmp_path / "paintings"
    root.mkdir()
    for i in range(5):
        (root / f"p.{i}.jpg").write_bytes(jpeg(i))
    units = folder_units(root, 2)
    assert [u.name for u in units] == ["paintings-000000", "paintings-000001", "paintings-000002"]
    assert [s.key for s in units[0].samples()] == ["p.0", "p.1"]
    with pytest.raises(InputError, match="not found"):
        folder_units(tmp_path / "missing", 2)
