"""The training stream: epoch shuffles, rank/worker splits, resumption, corrupt items counted."""

import itertools
from unittest import mock

import pytest
from imagegen import image_bytes, write_shard

from sassl.train.data import StreamDataset, images_spec, make_loader


def _keys(spec, epoch=0, start=0, n=8, batch=2, workers=0, seed=0):
    ds = StreamDataset(spec, seed, shuffle_buffer=4)
    ds.set_position(epoch, start, batch, workers)
    out = []
    for b in itertools.islice(make_loader(ds, batch, workers), n):
        out += [tuple(x) for x in b["image"].flatten(1)[:, :6].tolist()]
    return out


@pytest.fixture
def shards(tmp_path):
    for s in range(4):
        write_shard(tmp_path / f"d-{s:03d}.tar", [(f"k{s}_{i}", image_bytes(s * 10 + i, 24), s) for i in range(3)])
    return images_spec(str(tmp_path / "d-{000..003}.tar"), 16)


def test_epochs_reshuffle_and_one_epoch_covers_every_sample_once(shards):
    assert shards.num_samples == 12
    e0, e1 = _keys(shards, epoch=0, n=6), _keys(shards, epoch=1, n=6)
    assert len(set(e0)) == 12 and set(e0) == set(e1) and e0 != e1
    assert _keys(shards, epoch=0, n=6) == e0  # seeded: the same epoch replays


def test_ranks_and_workers_read_disjoint_parts(shards):
    seen = []
    for r in range(2):
        with mock.patch("sassl.train.data.rank", return_value=r), mock.patch("sassl.train.data.world_size", return_value=2):
            seen.append(_keys(shards, n=2, batch=3, workers=2))  # one shard of 3 per reader
    assert len(seen[0]) == len(seen[1]) == 6
    assert not set(seen[0]) & set(seen[1]) and len(set(seen[0]) | set(seen[1])) == 12


def test_fewer_units_than_readers_splits_samples_instead(tmp_path):
    write_shard(tmp_path / "only.tar", [(f"k{i}", image_bytes(i, 24), 0) for i in range(6)])
    spec = images_spec(str(tmp_path / "only.tar"), 16)
    both = _keys(spec, n=2, batch=3, workers=2)
    assert spec.num_samples == 6 and len(set(both)) == 6  # each worker: every other sample


@pytest.mark.parametrize("workers", [0, 2])
def test_start_batch_resumes_the_same_stream(shards, workers):
    whole = _keys(shards, n=6, workers=workers)
    assert _keys(shards, start=3, n=3, workers=workers) == whole[6:]


def test_corrupt_items_are_skipped_and_counted(tmp_path):
    write_shard(tmp_path / "d-000.tar", [("a", image_bytes(1, 24), 0), ("b", b"\xff\xd8broken", 0), ("c", image_bytes(2, 24), 1)])
    (tmp_path / "d-001.tar").write_bytes(b"not a tar at all" * 64)
    spec = images_spec(str(tmp_path / "d-{000..001}.tar"), 16)
    ds = StreamDataset(spec, 0)
    ds.set_position(0, 0, 2, 0)
    batch = next(iter(make_loader(ds, 2, 0)))
    assert batch["image"].shape == (2, 3, 16, 16) and int(batch["errors"].sum()) == 2


def test_a_given_sample_count_skips_the_counting_pass(tmp_path) -> None:
    """With ``num_samples`` the shards are not read at all (they need not even exist yet)."""
    spec = images_spec(str(tmp_path / "missing-{000..009}.tar"), 16, num_samples=1281167)
    assert spec.num_samples == 1281167 and len(spec.units) == 10
