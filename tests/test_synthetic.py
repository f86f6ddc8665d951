"""Unit tests of helpers.synthetic: the generators, the shipped files, their checksums and loaders."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from helpers import synthetic


def test_tabular_label_depends_only_on_the_relevant_features():
    a = synthetic.make_tabular(seed=3, num_rows=400, num_features=8, num_relevant=2)
    x = np.concatenate([a["x_train"], a["x_test"]])
    y = np.concatenate([a["y_train"], a["y_test"]])
    assert x.shape == (400, 8) and x.dtype == np.float32 and y.dtype == np.int64
    assert len(a["x_train"]) == 300
    np.testing.assert_array_equal(y, (x[:, a["relevant"]] @ a["weights"] > 0).astype(int))
    assert list(a["weights"]) == [1.0, -1.0]
    assert len(set(a["relevant"].tolist())) == 2 and list(a["relevant"]) == sorted(a["relevant"])
    shuffled = x.copy()  # scrambling every other feature leaves every label unchanged
    noise = [i for i in range(8) if i not in a["relevant"]]
    shuffled[:, noise] = np.random.default_rng(0).permutation(shuffled[:, noise])
    np.testing.assert_array_equal((shuffled[:, a["relevant"]] @ a["weights"] > 0).astype(int), y)
    assert 0.35 < y.mean() < 0.65


def test_tabular_is_reproducible_and_seed_dependent():
    first, again, other = synthetic.make_tabular(1), synthetic.make_tabular(1), synthetic.make_tabular(2)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["x_train"], other["x_train"])


def test_tabular_rejects_bad_relevant_count():
    with pytest.raises(ValueError, match="num_relevant"):
        synthetic.make_tabular(num_features=4, num_relevant=4)


def test_shapes_masks_labels_and_distractors():
    a = synthetic.make_shapes(seed=5, num_images=60, image_size=20)
    images = np.concatenate([a["x_train"], a["x_test"]])
    masks = np.concatenate([a["masks_train"], a["masks_test"]])
    labels = np.concatenate([a["y_train"], a["y_test"]])
    assert images.shape == masks.shape == (60, 20, 20) and images.dtype == np.uint8 and masks.dtype == bool
    assert np.bincount(labels).tolist() == [20, 20, 20]
    areas = masks.sum(axis=(1, 2))
    assert (areas >= 20).all()  # the smallest shape is a 6-pixel plus: 2 bars of 2 x 6
    for image, mask in zip(images, masks, strict=True):
        assert image[mask].mean() > image[~mask].mean() + 50  # the shape is brighter than its background
        assert (image[~mask] >= 140).sum() >= 6  # the distractor pixels are outside the mask
    square = masks[labels == 0][0]
    rows, cols = np.nonzero(square)
    assert square.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # filled box
    plus_areas = areas[labels == 1]
    square_areas = areas[labels == 0]
    assert plus_areas.mean() < square_areas.mean()


def test_npz_bytes_are_deterministic():
    arrays = synthetic.make_tabular(0, num_rows=50)
    assert synthetic.npz_bytes(arrays) == synthetic.npz_bytes(arrays)


def test_regenerating_reproduces_the_shipped_files(tmp_path):
    digests = synthetic.generate_all(tmp_path)
    assert digests == synthetic.CHECKSUMS
    for name in synthetic.CHECKSUMS:
        assert (tmp_path / name).read_bytes() == (synthetic.DATA_DIR / name).read_bytes()
        assert (synthetic.DATA_DIR / name).stat().st_size < 1_000_000


def test_readme_lists_the_checksums():
    readme = (synthetic.DATA_DIR / "README.md").read_text()
    for name, digest in synthetic.CHECKSUMS.items():
        assert re.search(rf"`{re.escape(name)}`.*`{digest}`", readme), name
    assert "python -m helpers.synthetic" in readme


def test_loaders_return_splits_with_ground_truth():
    tabular = synthetic.load_synthetic_tabular()
    assert tabular.x_train.shape == (1500, 10) and tabular.num_classes == 2
    assert tabular.relevant == (5, 6, 9) and tabular.weights == (1.0, -1.0, 1.0)
    assert tabular.feature_names[5] == "x5"
    shapes = synthetic.load_synthetic_shapes()
    assert shapes.x_train.shape == (900, 20, 20, 3) and shapes.x_train.dtype == np.float32
    assert shapes.x_train.max() <= 255 and shapes.masks_test.shape == (300, 20, 20)
    assert shapes.class_names == ["square", "plus", "triangle"]
    grey = synthetic.load_synthetic_shapes(channels=1)
    assert grey.x_test.shape == (300, 20, 20, 1)
    np.testing.assert_array_equal(grey.x_test[..., 0], shapes.x_test[..., 2])
    with pytest.raises(ValueError, match="channels"):
        synthetic.load_synthetic_shapes(channels=2)


def test_loaders_refuse_changed_or_missing_files(tmp_path):
    for name in synthetic.CHECKSUMS:
        shutil.copy(synthetic.DATA_DIR / name, tmp_path / name)
    raw = bytearray((tmp_path / synthetic.TABULAR_FILE).read_bytes())
    raw[-30] ^= 0xFF
    (tmp_path / synthetic.TABULAR_FILE).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256"):
        synthetic.load_synthetic_tabular(tmp_path)
    assert synthetic.load_synthetic_shapes(tmp_path, channels=1).num_classes == 3
    (tmp_path / synthetic.SHAPES_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="python -m helpers.synthetic"):
        synthetic.load_synthetic_shapes(tmp_path)


def test_command_line_check_and_regenerate(tmp_path, capsys):
    assert synthetic.main(["--check"]) == 0
    assert synthetic.main(["--check", "--out", str(tmp_path)]) == 1
    assert synthetic.main(["--out", str(tmp_path)]) == 0
    assert "matches" in capsys.readouterr().out
    assert synthetic.main(["--check", "--out", str(tmp_path)]) == 0
