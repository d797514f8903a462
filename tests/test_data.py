import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from replab.core.data import BatchOrder, DataConfig, load_images, read_idx
from replab.errors import DataError


def _write_idx(path, array, gz=False):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_read_idx_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a", array)
    _write_idx(tmp_path / "b.gz", array, gz=True)
    assert (read_idx(tmp_path / "a") == array).all()
    assert (read_idx(tmp_path / "b.gz") == array).all()


def test_read_idx_rejects_bad_files_by_name(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04junk")
    with pytest.raises(DataError, match="bad-idx.*magic"):
        read_idx(bad)
    short = tmp_path / "short-idx"
    short.write_bytes(struct.pack(">BBBB", 0, 0, 8, 1) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(DataError, match="short-idx"):
        read_idx(short)


def test_fashion_mnist_is_installed_and_reads():
    """Needs Debian's dataset-fashion-mnist (make installs it); fails with the install hint when absent."""
    train = load_images(DataConfig(source="fmnist"), "train")
    test = load_images(DataConfig(source="fmnist", limit=100), "test")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert len(test) == 100 and train.num_classes == 10
    assert set(train.labels.unique().tolist()) == set(range(10))


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_images(DataConfig(source="fmnist", path=str(tmp_path)), "train")


def test_digits_are_resized():
    data = load_images(DataConfig(source="digits", image_size=16), "test")
    assert data.images.shape[1:] == (1, 16, 16) and len(data) > 300


def test_image_folder_with_classes_and_resize(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((40, 30, 3), 50 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    data = load_images(DataConfig(source="folder", path=str(tmp_path), image_size=16, channels=3), "train")
    assert data.images.shape == (6, 3, 16, 16)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_corrupt_image_is_named(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        load_images(DataConfig(source="folder", path=str(tmp_path), image_size=8), "train")


def test_batch_order_is_a_pure_function_of_seed_and_step():
    a, b = BatchOrder(10, 4, seed=3), BatchOrder(10, 4, seed=3)
    first = [a.indices(s).tolist() for s in range(6)]
    assert [b.indices(s).tolist() for s in reversed(range(6))][::-1] == first
    epoch0 = sum(first[:2], []) + first[2][:2]  # 10 items: steps 0, 1 and half of 2
    assert sorted(epoch0) == list(range(10))
    assert BatchOrder(10, 4, seed=4).indices(0).tolist() != first[0]


def test_batch_order_ranks_split_the_global_batch():
    whole = BatchOrder(20, 8, seed=0).indices(5)
    parts = [BatchOrder(20, 8, seed=0, rank=r, world=2).indices(5) for r in range(2)]
    assert torch.equal(torch.cat(parts), whole)
