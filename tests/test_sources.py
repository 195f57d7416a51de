"""Reading raw inputs: shards in the ImageNet WebDataset layout and image folders."""

from __future__ import annotations

import pytest
from imagegen import image_bytes, write_image_folder, write_shard
from sassl.sources import (
    ImageError,
    ShardError,
    decode_image,
    expand_urls,
    iter_image_folder,
    iter_shard,
    pil_to_uint8,
    resize_center_crop,
)


def test_expand_urls_handles_braces_and_lists() -> None:
    assert expand_urls("a-{000..002}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar"]
    assert expand_urls("x.tar y.tar,z.tar") == ["x.tar", "y.tar", "z.tar"]
    assert expand_urls(["p-{0..1}.tar", "q.tar"]) == ["p-0.tar", "p-1.tar", "q.tar"]


def test_expand_urls_handles_shell_globs(tmp_path) -> None:
    for name in ("s-002.tar", "s-000.tar", "s-010.tar", "other.tar"):
        (tmp_path / name).write_bytes(b"")
    assert expand_urls(f"{tmp_path}/s-*.tar") == [f"{tmp_path}/s-{i}.tar" for i in ("000", "002", "010")]
    assert expand_urls(f"{tmp_path}/s-00?.tar {tmp_path}/o*.tar") == [
        f"{tmp_path}/s-000.tar", f"{tmp_path}/s-002.tar", f"{tmp_path}/other.tar"]
    assert expand_urls(f"{tmp_path}/{{s-0[01]*,other}}.tar") == [
        f"{tmp_path}/s-000.tar", f"{tmp_path}/s-002.tar", f"{tmp_path}/s-010.tar", f"{tmp_path}/other.tar"]
    with pytest.raises(ValueError, match=r"t-\*.tar: no files match"):
        expand_urls(f"{tmp_path}/t-*.tar")
    assert expand_urls("https://host/a-*.tar") == ["https://host/a-*.tar"]  # remote names are not globbed


def test_shard_keys_with_dots_stay_whole(tmp_path) -> None:
    shard = write_shard(tmp_path / "s.tar", [("n01.10026", image_bytes(0), 3), ("n01.10027", image_bytes(1), 4), ("plain", image_bytes(2), None)])
    samples = list(iter_shard(str(shard)))
    assert [(s.key, s.label, s.ext) for s in samples] == [("n01.10026", 3, "jpg"), ("n01.10027", 4, "jpg"), ("plain", None, "jpg")]
    assert decode_image(samples[0].data, "x").size == (48, 48)


def test_corrupt_tar_raises_a_shard_error_naming_it(tmp_path) -> None:
    shard = write_shard(tmp_path / "s.tar", [(f"k{i}", image_bytes(i), i) for i in range(4)])
    data = shard.read_bytes()
    (tmp_path / "trunc.tar").write_bytes(data[: len(data) // 2 + 100])
    with pytest.raises(ShardError, match="trunc.tar: corrupt or truncated tar"):
        list(iter_shard(str(tmp_path / "trunc.tar")))
    with pytest.raises(ShardError, match="missing.tar: shard not found"):
        list(iter_shard(str(tmp_path / "missing.tar")))


def test_truncated_image_raises_an_image_error() -> None:
    data = image_bytes(0, size=64)
    with pytest.raises(ImageError, match="item7: cannot decode image"):
        decode_image(data[: len(data) // 2], "item7")
    with pytest.raises(ImageError, match="item8"):
        decode_image(b"not an image", "item8")


def test_image_folder_labels_follow_sorted_class_names(tmp_path) -> None:
    root = write_image_folder(tmp_path / "f", classes=2, per_class=2)
    samples = list(iter_image_folder(root))
    assert [(s.key, s.label) for s in samples] == [("class0/img0_0", 0), ("class0/img0_1", 0), ("class1/img1_0", 1), ("class1/img1_1", 1)]
    flat = list(iter_image_folder(write_image_folder(tmp_path / "flat", classes=1, per_class=2, flat=True)))
    assert [s.label for s in flat] == [None, None]


def test_resize_center_crop_and_tensor_conversion() -> None:
    from PIL import Image

    img = Image.new("RGB", (80, 40), (10, 20, 30))
    out = resize_center_crop(img, 32)
    assert out.size == (32, 32)
    t = pil_to_uint8(out)
    assert t.shape == (3, 32, 32) and t[:, 0, 0].tolist() == [10, 20, 30]


def test_every_truncation_point_is_detected(tmp_path) -> None:
    shard = write_shard(tmp_path / "s.tar", [(f"k{i}", image_bytes(i, size=16), i) for i in range(3)])
    data = shard.read_bytes()
    end = len(data.rstrip(b"\0"))  # bytes past this are the end-of-archive padding
    for cut in range(512, end, 256):
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        with pytest.raises(ShardError, match="cut.tar"):
            list(iter_shard(str(tmp_path / "cut.tar")))
    assert len(list(iter_shard(str(shard)))) == 3
