"""Synthetic data sets with a known right answer, for measuring explanations (notebook 07_interpretability).

Two sets, both generated reproducibly from a seed with NumPy's PCG64 generator and shipped small inside the
package (``helpers/datasets/``, installed with it as package data, so a notebook finds them from any folder):

* ``synthetic_tabular.npz``: ``num_features`` standard-normal features; the label depends only on a few
  of them (``relevant``, chosen by the seed), through ``y = 1 if x[relevant] @ weights > 0``; the rest is
  noise. An explanation is right on an instance when its top-k features are exactly the relevant ones.
* ``synthetic_shapes.npz``: grey images of one shape (square, plus or triangle) on a noisy background
  with a few bright single-pixel distractors;
  the class is the shape, and the shape's pixel mask is stored beside each image. A saliency map is right
  when its mass lies inside the mask.

``python -m helpers.synthetic`` regenerates both files (byte-identical) and prints their SHA-256;
``python -m helpers.synthetic --check`` verifies the shipped files. The loaders verify the checksum too.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.data import Split

DATA_DIR = Path(__file__).resolve().parent / "datasets"
TABULAR_FILE = "synthetic_tabular.npz"
SHAPES_FILE = "synthetic_shapes.npz"
SHAPE_NAMES = ("square", "plus", "triangle")

# SHA-256 of the shipped files (datasets/README.md lists the same; a unit test checks they agree).
CHECKSUMS = {
    TABULAR_FILE: "f82b1ad66464463adb52cfd899e48da9fa510f06920dff103a20e40e6505297b",
    SHAPES_FILE: "777fbab70602d86676811664a9129a6e17b596de1574412ce0bb5aa12491c04d",
}


@dataclass
class TabularTruth(Split):
    """A :class:`~helpers.data.Split` plus the ground truth: which features the label depends on."""

    relevant: tuple[int, ...] = ()
    weights: tuple[float, ...] = ()


@dataclass
class ShapesTruth(Split):
    """A :class:`~helpers.data.Split` of images plus the ground truth: each image's shape mask (bool)."""

    masks_train: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    masks_test: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def make_tabular(seed: int = 0, num_rows: int = 2000, num_features: int = 10, num_relevant: int = 3,
                 test_fraction: float = 0.25) -> dict[str, np.ndarray]:
    """Arrays of the synthetic tabular set: features ~ N(0, 1); label = [x[relevant] @ weights > 0].

    ``relevant`` is a seeded random choice of ``num_relevant`` feature indices (sorted, so it is never
    simply the first ones by design) and ``weights`` alternate +1, -1, +1, ...
    """
    if not 1 <= num_relevant < num_features:
        raise ValueError(f"num_relevant must be in [1, num_features), got {num_relevant} of {num_features}")
    rng = np.random.Generator(np.random.PCG64(seed))
    relevant = np.sort(rng.choice(num_features, size=num_relevant, replace=False)).astype("int64")
    weights = np.array([(-1.0) ** i for i in range(num_relevant)])
    x = rng.standard_normal((num_rows, num_features)).astype("float32")
    y = (x[:, relevant] @ weights > 0).astype("int64")
    cut = int(round(num_rows * (1 - test_fraction)))
    return {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:],
            "relevant": relevant, "weights": weights}


def _shape_mask(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean ``size`` x ``size`` stencil of shape ``kind`` (0 square, 1 plus, 2 triangle)."""
    stencil = np.zeros((size, size), bool)
    if kind == 0:
        stencil[:] = True
    elif kind == 1:
        lo = size // 2 - 1
        stencil[lo:lo + 2, :] = True
        stencil[:, lo:lo + 2] = True
    else:
        for row in range(size):
            half = row // 2
            centre = size // 2
            stencil[row, max(0, centre - half - 1):centre + half + 1] = True
    return stencil


def make_shapes(seed: int = 0, num_images: int = 1200, image_size: int = 20, test_fraction: float = 0.25,
                num_speckles: int = 6) -> dict[str, np.ndarray]:
    """Arrays of the synthetic shapes set: uint8 images (n, H, W), int labels, bool masks (n, H, W).

    Background: Gaussian noise (mean 60, sd 30) clipped to 0..255. One shape per image, 6 to 9 pixels
    wide at a random place, brightness 140 to 220 plus the same noise. ``num_speckles`` single pixels
    outside the shape are as bright (140 to 255): distractors, so that "the brightest pixel" is not a
    localisation method. Classes are balanced and shuffled.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    labels = rng.permutation(np.arange(num_images) % len(SHAPE_NAMES)).astype("int64")
    images = np.zeros((num_images, image_size, image_size), "uint8")
    masks = np.zeros((num_images, image_size, image_size), bool)
    for i, kind in enumerate(labels):
        size = int(rng.integers(6, 10))
        top, left = rng.integers(0, image_size - size + 1, size=2)
        mask = np.zeros((image_size, image_size), bool)
        mask[top:top + size, left:left + size] = _shape_mask(int(kind), size, rng)
        brightness = rng.uniform(140, 220)
        pixels = rng.normal(60, 30, (image_size, image_size)) + mask * (brightness - 60)
        outside = np.flatnonzero(~mask.ravel())
        speckles = rng.choice(outside, size=num_speckles, replace=False)
        pixels.ravel()[speckles] = rng.uniform(140, 255, size=num_speckles)
        images[i] = np.clip(np.round(pixels), 0, 255).astype("uint8")
        masks[i] = mask
    cut = int(round(num_images * (1 - test_fraction)))
    return {"x_train": images[:cut], "y_train": labels[:cut], "masks_train": masks[:cut],
            "x_test": images[cut:], "y_test": labels[cut:], "masks_test": masks[cut:]}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The bytes of a compressed .npz of ``arrays`` (deterministic: zip entries carry a fixed date)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (what ``sha256sum`` prints for the file)."""
    return hashlib.sha256(data).hexdigest()


def _read_verified(name: str, data_dir: Path | None = None) -> dict[str, np.ndarray]:
    path = Path(data_dir or DATA_DIR) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; regenerate it with `python -m helpers.synthetic`")
    raw = path.read_bytes()
    digest = sha256(raw)
    if digest != CHECKSUMS[name]:
        raise ValueError(f"{path} has SHA-256 {digest}, expected {CHECKSUMS[name]}: the file was changed; "
                         "regenerate it with `python -m helpers.synthetic`")
    with np.load(io.BytesIO(raw)) as npz:
        return {key: npz[key] for key in npz.files}


def load_synthetic_tabular(data_dir: Path | None = None) -> TabularTruth:
    """The shipped synthetic tabular set (checksum verified) with its ground truth ``relevant``."""
    a = _read_verified(TABULAR_FILE, data_dir)
    names = [f"x{i}" for i in range(a["x_train"].shape[1])]
    return TabularTruth(a["x_train"], a["y_train"], a["x_test"], a["y_test"], names, ["negative", "positive"],
                        relevant=tuple(int(i) for i in a["relevant"]),
                        weights=tuple(float(w) for w in a["weights"]))


def load_synthetic_shapes(data_dir: Path | None = None, channels: int = 3) -> ShapesTruth:
    """The shipped shapes set (checksum verified): float32 images in 0..255 of shape (n, H, W, channels).

    ``channels=3`` repeats the grey channel (tf-explain's overlays call OpenCV's RGB conversions).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    a = _read_verified(SHAPES_FILE, data_dir)

    def images(x: np.ndarray) -> np.ndarray:
        return np.repeat(x[..., None].astype("float32"), channels, axis=-1)

    size = a["x_train"].shape[1]
    names = [f"pixel_{r}_{c}" for r in range(size) for c in range(size)]
    return ShapesTruth(images(a["x_train"]), a["y_train"], images(a["x_test"]), a["y_test"], names,
                       list(SHAPE_NAMES), masks_train=a["masks_train"], masks_test=a["masks_test"])


def generate_all(data_dir: Path | None = None, seed: int = 0) -> dict[str, str]:
    """Write both shipped files into ``data_dir`` and return ``{file name: sha256}``."""
    target = Path(data_dir or DATA_DIR)
    target.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, arrays in ((TABULAR_FILE, make_tabular(seed)), (SHAPES_FILE, make_shapes(seed))):
        raw = npz_bytes(arrays)
        (target / name).write_bytes(raw)
        digests[name] = sha256(raw)
    return digests


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.synthetic [--check] [--out DIR]``: regenerate (or verify) the shipped files."""
    parser = argparse.ArgumentParser(prog="python -m helpers.synthetic", description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="verify the shipped files, write nothing")
    parser.add_argument("--out", type=Path, default=DATA_DIR,
                        help="folder to write into (default: the package's datasets/)")
    args = parser.parse_args(argv)
    if args.check:
        bad = [n for n in CHECKSUMS if not (args.out / n).exists() or sha256((args.out / n).read_bytes())
               != CHECKSUMS[n]]
        for name in CHECKSUMS:
            print(f"{'BAD' if name in bad else 'ok '} {name}")
        return 1 if bad else 0
    for name, digest in generate_all(args.out).items():
        status = "matches" if digest == CHECKSUMS[name] else "DIFFERS from"
        print(f"{digest}  {args.out / name}  ({status} helpers.synthetic.CHECKSUMS)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
