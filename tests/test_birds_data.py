"""Birds data: both canonical layouts, RGB conversion, splits, bad input, memory."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from convstudy.data.archives import ArchiveError, md5sum
from convstudy.data.birds import BadImageError, load_birds, read_lists
from convstudy.data.birds import prepare_birds as prepare
from convstudy.data.synthetic_birds import GREY_EVERY, class_dirs, write_synthetic_birds

LAYOUTS = ("cub200", "cub200_2011")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """Synthetic archives of both layouts: 4 classes, 8 train + 3 test images each."""
    out = {}
    for dataset in LAYOUTS:
        info = write_synthetic_birds(
            tmp_path_factory.mktemp(dataset),
            dataset,
            num_classes=4,
            train_per_class=8,
            test_per_class=3,
            seed=3,
        )
        out[dataset] = info
    return out


@pytest.mark.parametrize("dataset", LAYOUTS)
def test_both_layouts_load_with_official_split(archives, dataset):
    info = archives[dataset]
    data, skipped = load_birds(
        dataset, info["archives"], image_size=40, validation_fraction=0.25, seed=1
    )
    assert skipped == []
    assert data["class_names"] == [d.split(".", 1)[1] for d in class_dirs(4)]
    assert data["x_train"].dtype == np.uint8 and data["x_train"].shape[1:] == (40, 40, 3)
    # The official split: every training image lands in train or val, every test image in test.
    assert len(data["y_train"]) + len(data["y_val"]) == info["train"] == 32
    assert len(data["y_test"]) == info["test"] == 12
    for part in ("train", "val", "test"):
        # Labels come from the class folder of each file.
        folders = [f.split("/", 1)[0] for f in data[f"files_{part}"]]
        assert [class_dirs(4)[y] for y in data[f"y_{part}"]] == folders
        assert len(data[f"x_{part}"]) == len(data[f"y_{part}"])
    test_names = {f.rsplit("_", 1)[1] for f in data["files_test"]}
    assert test_names == {"0008.jpg", "0009.jpg", "0010.jpg"}


@pytest.mark.parametrize("dataset", LAYOUTS)
def test_greyscale_and_cmyk_become_rgb(archives, dataset):
    data, _ = load_birds(
        dataset, archives[dataset]["archives"], image_size=32, validation_fraction=0.25, seed=1
    )
    x = np.concatenate([data["x_train"], data["x_val"], data["x_test"]])
    files = np.concatenate([data["files_train"], data["files_val"], data["files_test"]])
    order = {f: i for i, f in enumerate(sorted(files, key=lambda f: (f.split("/")[0], f)))}
    grey = np.array([(order[f] % GREY_EVERY) == 5 for f in files])
    assert grey.any() and not grey.all()
    same = (x[..., 0] == x[..., 1]).all(axis=(1, 2)) & (x[..., 1] == x[..., 2]).all(axis=(1, 2))
    # Greyscale sources give three equal channels; colour sources (CMYK included) do not.
    assert same[grey].all()
    assert not same[~grey].any()


def test_split_is_stratified_seeded_and_not_the_tail(archives):
    info = archives["cub200"]
    kwargs = dict(image_size=16, validation_fraction=0.25)
    a, _ = load_birds("cub200", info["archives"], seed=1, **kwargs)
    b, _ = load_birds("cub200", info["archives"], seed=1, **kwargs)
    c, _ = load_birds("cub200", info["archives"], seed=2, **kwargs)
    # round(0.25 * 8) = 2 validation images from every class (the archive is ordered
    # by class: a tail split would leave the first classes out of validation).
    assert np.bincount(a["y_val"], minlength=4).tolist() == [2, 2, 2, 2]
    assert np.bincount(a["y_train"], minlength=4).tolist() == [6, 6, 6, 6]
    assert not set(a["files_val"]) & set(a["files_train"])
    assert list(a["files_val"]) == list(b["files_val"])
    assert list(a["files_val"]) != list(c["files_val"])
    np.testing.assert_array_equal(a["x_val"], b["x_val"])


def test_num_classes_keeps_the_first_classes(archives):
    data, _ = load_birds(
        "cub200_2011",
        archives["cub200_2011"]["archives"],
        image_size=16,
        validation_fraction=0.25,
        seed=1,
        num_classes=2,
    )
    assert len(data["class_names"]) == 2
    assert set(data["y_test"].tolist()) == {0, 1} and len(data["y_test"]) == 6


@pytest.mark.parametrize("dataset", LAYOUTS)
def test_corrupt_image_is_named_or_skipped(tmp_path, dataset):
    info = write_synthetic_birds(
        tmp_path, dataset, num_classes=3, train_per_class=5, test_per_class=2, corrupt=1
    )
    bad = info["corrupted"][0]
    with pytest.raises(BadImageError, match=bad.replace(".", r"\.")):
        load_birds(dataset, info["archives"], image_size=16, validation_fraction=0.2, seed=0)
    data, skipped = load_birds(
        dataset,
        info["archives"],
        image_size=16,
        validation_fraction=0.2,
        seed=0,
        on_bad_image="skip",
    )
    assert len(skipped) == 1 and skipped[0].endswith(bad)
    assert len(data["y_train"]) + len(data["y_val"]) == 14
    assert bad not in set(data["files_train"]) | set(data["files_val"])
    assert len(data["x_train"]) == len(data["files_train"]) == len(data["y_train"])


def test_prepare_stops_before_writing_on_bad_input(tmp_path):
    info = write_synthetic_birds(
        tmp_path / "a", "cub200", num_classes=3, train_per_class=4, test_per_class=2, corrupt=1
    )
    common = dict(
        dataset="cub200",
        image_size=16,
        validation_fraction=0.25,
        seed=0,
        num_classes=None,
        threads=1,
        arrays_out=tmp_path / "data.npz",
        split_out=tmp_path / "split.json",
    )
    no_check = {"images": {}, "lists": {}}
    with pytest.raises(BadImageError, match="Black_footed_Albatross_0000.jpg"):
        prepare(info["archives"], checksums=no_check, on_bad_image="error", **common)
    assert not (tmp_path / "data.npz").exists() and not (tmp_path / "split.json").exists()
    wrong = {"images": {"md5": "0" * 32}, "lists": {}}
    with pytest.raises(ArchiveError, match="md5 checksum mismatch"):
        prepare(info["archives"], checksums=wrong, on_bad_image="skip", **common)
    sha = {"images": {}, "lists": {"sha256": "f" * 64}}
    with pytest.raises(ArchiveError, match="sha256 checksum mismatch"):
        prepare(info["archives"], checksums=sha, on_bad_image="skip", **common)
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*part*"))
    right = {"images": {"md5": md5sum(info["archives"]["images"])}, "lists": {}}
    table = prepare(info["archives"], checksums=right, on_bad_image="skip", **common)
    total = table["total"]
    assert total["train"] + total["val"] == 11 and total["test"] == 6
    assert (tmp_path / "data.npz").exists()


def test_truncated_archive_and_missing_images(tmp_path):
    info = write_synthetic_birds(
        tmp_path, "cub200", num_classes=2, train_per_class=3, test_per_class=1
    )
    images = info["archives"]["images"]
    raw = Path(images).read_bytes()
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ArchiveError, match="truncated"):
        load_birds(
            "cub200",
            {**info["archives"], "images": cut},
            image_size=16,
            validation_fraction=0.34,
            seed=0,
        )
    # An image archive that lacks a listed image.
    short = tmp_path / "short.tgz"
    with (
        tarfile.open(images) as src,
        gzip.open(short, "wb") as gz,
        tarfile.open(fileobj=gz, mode="w") as dst,
    ):
        for member in src.getmembers()[1:]:
            dst.addfile(member, src.extractfile(member))
    with pytest.raises(ArchiveError, match="1 listed image.*not in the archive"):
        load_birds(
            "cub200",
            {**info["archives"], "images": short},
            image_size=16,
            validation_fraction=0.34,
            seed=0,
        )


def test_lists_naming_unknown_class(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (("classes", "001.A\n"), ("train", "002.B/x.jpg\n"), ("test", "")):
            data = text.encode()
            member = tarfile.TarInfo(f"lists/{name}.txt")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    (tmp_path / "lists.tgz").write_bytes(buf.getvalue())
    with pytest.raises(ArchiveError, match="002.B/x.jpg"):
        read_lists("cub200", {"lists": tmp_path / "lists.tgz"})


def test_preprocessing_memory_stays_near_the_final_arrays(tmp_path):
    """Peak Python-heap memory (numpy included) <= 2x the arrays that come out."""
    info = write_synthetic_birds(
        tmp_path, "cub200", num_classes=6, train_per_class=20, test_per_class=10
    )
    tracemalloc.start()
    try:
        data, _ = load_birds(
            "cub200", info["archives"], image_size=96, validation_fraction=0.2, seed=0, threads=2
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = sum(data[f"x_{p}"].nbytes for p in ("train", "val", "test"))
    assert final == 180 * 96 * 96 * 3
    assert peak <= 2 * final, f"peak {peak / 1e6:.1f} MB for {final / 1e6:.1f} MB of images"
