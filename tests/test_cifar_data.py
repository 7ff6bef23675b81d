"""The CIFAR loader on synthetic archives in the canonical layouts, subsets and splits."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

from convstudy.data.archives import ArchiveError, md5sum, verify_checksums
from convstudy.data.cifar import LAYOUTS, make_subset, read_cifar, subset_table
from convstudy.data.splits import cap_per_class, stratified_split
from convstudy.data.synthetic import CIFAR100_FINE, write_synthetic_cifar


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    paths = {}
    for dataset in ("cifar100", "cifar10"):
        path = root / f"{dataset}.tar.gz"
        write_synthetic_cifar(path, dataset, train_per_class=12, test_per_class=4, seed=5)
        paths[dataset] = path
    return paths


def _members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_synthetic_archive_has_the_canonical_members_keys_and_dtypes(archives):
    members = _members(archives["cifar100"])
    assert set(members) == {
        "cifar-100-python/train",
        "cifar-100-python/test",
        "cifar-100-python/meta",
    }
    train = pickle.loads(members["cifar-100-python/train"], encoding="bytes")
    assert set(train) == {b"filenames", b"batch_label", b"fine_labels", b"coarse_labels", b"data"}
    assert train[b"data"].dtype == np.uint8 and train[b"data"].shape == (1200, 3072)
    assert isinstance(train[b"fine_labels"], list) and len(train[b"fine_labels"]) == 1200
    meta = pickle.loads(members["cifar-100-python/meta"], encoding="bytes")
    assert [n.decode() for n in meta[b"fine_label_names"]] == CIFAR100_FINE
    assert len(meta[b"coarse_label_names"]) == 20

    members10 = _members(archives["cifar10"])
    layout = LAYOUTS["cifar10"]
    expected = {f"cifar-10-batches-py/{m}" for m in (*layout.train, *layout.test, layout.meta)}
    assert set(members10) == expected
    batch = pickle.loads(members10["cifar-10-batches-py/data_batch_3"], encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}


def test_synthetic_archive_is_reproducible(tmp_path):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_synthetic_cifar(a, "cifar10", 3, 1, seed=9)
    write_synthetic_cifar(b, "cifar10", 3, 1, seed=9)
    assert md5sum(a) == md5sum(b)


@pytest.mark.parametrize("dataset,n_classes", [("cifar100", 100), ("cifar10", 10)])
def test_reader_decodes_images_and_labels(archives, dataset, n_classes):
    data = read_cifar(archives[dataset], dataset)
    assert data["x_train"].shape == (12 * n_classes, 32, 32, 3)
    assert data["x_test"].shape == (4 * n_classes, 32, 32, 3)
    assert data["x_train"].dtype == np.uint8
    assert np.bincount(data["y_train"]).tolist() == [12] * n_classes
    assert len(data["class_names"]) == n_classes


def test_reader_puts_channels_last_like_the_real_row_layout(tmp_path):
    """Row = 1024 red, 1024 green, 1024 blue values: a pure-red image must come out red."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = 200
    image[0, 1, 2] = 7  # one blue pixel at row 0, column 1
    row = image.transpose(2, 0, 1).reshape(-1)
    path = tmp_path / "c10.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:

        def add(name, obj):
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))

        batch = {b"labels": [1], b"data": row[None, :], b"batch_label": b"x", b"filenames": [b"a"]}
        for m in LAYOUTS["cifar10"].train + LAYOUTS["cifar10"].test:
            add(m, batch)
        add("batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    path.write_bytes(buf.getvalue())
    data = read_cifar(path, "cifar10")
    decoded = data["x_train"][0]
    assert decoded[5, 5].tolist() == [200, 0, 0]
    assert decoded[0, 1].tolist() == [200, 0, 7]


def test_subset_keeps_first_classes_balanced_and_stratified(archives):
    data = read_cifar(archives["cifar100"], "cifar100")
    subset = make_subset(data, num_classes=25, validation_fraction=0.25, seed=3)
    assert subset["class_names"] == CIFAR100_FINE[:25]
    for part, per_class in (("train", 9), ("val", 3), ("test", 4)):
        y = subset[f"y_{part}"]
        assert y.max() == 24 and y.min() == 0
        assert np.bincount(y, minlength=25).tolist() == [per_class] * 25
    table = subset_table(subset)
    assert table["total"] == {"train": 225, "val": 75, "test": 100}
    assert table["apple"] == {"train": 9, "val": 3, "test": 4}
    # Validation images are training-archive images that left the training split.
    train_rows = {x.tobytes() for x in subset["x_train"]}
    assert not any(x.tobytes() in train_rows for x in subset["x_val"])


def test_study_sized_subset_sizes():
    """500 training images per class and 10%: 450/50 per class, 11,250/1,250 overall."""
    labels = np.repeat(np.arange(25), 500)
    train, val = stratified_split(labels, 0.1, seed=0)
    assert len(train) == 11250 and len(val) == 1250
    assert np.bincount(labels[val]).tolist() == [50] * 25
    assert len(np.intersect1d(train, val)) == 0


def test_split_is_seeded():
    labels = np.repeat(np.arange(4), 20)
    a = stratified_split(labels, 0.2, seed=1)[1]
    assert np.array_equal(a, stratified_split(labels, 0.2, seed=1)[1])
    assert not np.array_equal(a, stratified_split(labels, 0.2, seed=2)[1])


def test_cap_per_class():
    labels = np.repeat(np.arange(3), 10)
    kept = cap_per_class(labels, 4, seed=0)
    assert np.bincount(labels[kept]).tolist() == [4, 4, 4]
    assert len(cap_per_class(labels, None, seed=0)) == 30


def test_too_many_classes_is_an_error(archives):
    data = read_cifar(archives["cifar10"], "cifar10")
    with pytest.raises(ValueError, match="num_classes is 25 but the archive has 10"):
        make_subset(data, 25, 0.1, 0)


# Bad archives: each error names the problem.


def test_checksum_mismatch(archives):
    with pytest.raises(ArchiveError, match="md5 checksum mismatch") as err:
        verify_checksums(archives["cifar10"], "0" * 32, setting="cifar.local_checksums.archive")
    # The hint names the setting that holds the expected checksum.
    assert str(err.value).endswith(
        "(a truncated or different file; for a file of your own, set cifar.local_checksums.archive)"
    )
    assert verify_checksums(archives["cifar10"], md5sum(archives["cifar10"]).upper())


def test_truncated_archive(archives, tmp_path):
    raw = archives["cifar100"].read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArchiveError, match="not a readable .tar.gz archive, or truncated"):
        read_cifar(cut, "cifar100")


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "cifar-100-python.tar.gz"
    bogus.write_text("<html>404 not found</html>")
    with pytest.raises(ArchiveError, match="not a readable .tar.gz archive"):
        read_cifar(bogus, "cifar100")


def test_archive_missing_a_batch(archives, tmp_path):
    members = _members(archives["cifar10"])
    path = tmp_path / "partial.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            if name.endswith("data_batch_4"):
                continue
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(ArchiveError, match="missing cifar-10-batches-py/data_batch_4"):
        read_cifar(path, "cifar10")


def test_wrong_dataset_layout(archives):
    with pytest.raises(ArchiveError, match="missing cifar-100-python/train"):
        read_cifar(archives["cifar10"], "cifar100")


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.tar.gz"
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in ("train", "test", "meta"):
            raw = pickle.dumps({b"data": Evil()}, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(ArchiveError, match=r"refusing to load (__builtin__|builtins)\.print"):
        read_cifar(path, "cifar100")


def test_bad_data_shape(tmp_path):
    path = tmp_path / "shape.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in (
            ("train", {b"data": np.zeros((2, 100), np.uint8), b"fine_labels": [0, 1]}),
            ("test", {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]}),
            ("meta", {b"fine_label_names": [b"a", b"b"]}),
        ):
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    with pytest.raises(ArchiveError, match=r"cifar-100-python/train: data is uint8 \(2, 100\)"):
        read_cifar(path, "cifar100")


def test_outputs_are_readable_by_others(tmp_path):
    import os

    from convstudy.files import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o644


def test_a_replicate_split_is_its_own_and_keeps_the_sizes():
    """replicate_split: replicate k draws its split from the same training images with
    its own seed, as many validation images per class (replicate 0 keeps the prepared
    split: the rules give it no split of its own, see tests/test_rerun.py)."""
    from convstudy.data.splits import resplit, stratified_split

    y = np.repeat(np.arange(5), 40)
    x = np.arange(len(y))  # each "image" is its own index
    train, val = stratified_split(y, 0.2, 2020 + 1)
    data = {"x_train": x[train], "y_train": y[train], "x_val": x[val], "y_val": y[val]}
    splits = [resplit(data, 0.2, 2020 + k) for k in (1, 2)]
    vals = [set(data["x_val"].tolist())] + [set(s["x_val"].tolist()) for s in splits]
    assert len({frozenset(v) for v in vals}) == 3, "every replicate its own validation set"
    for split in splits:
        assert sorted(np.concatenate([split["x_train"], split["x_val"]]).tolist()) == x.tolist()
        assert np.bincount(split["y_val"]).tolist() == np.bincount(data["y_val"]).tolist()
        assert (y[split["x_val"]] == split["y_val"]).all()
    # Reproducible: the same seed draws the same split.
    assert resplit(data, 0.2, 2021)["x_val"].tolist() == splits[0]["x_val"].tolist()
