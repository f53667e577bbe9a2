"""The user's own images: a folder of image files, read with Pillow.

Images come out as float32 ``(n, channels, height, width)`` in [0, 1], all resized to one
shape. Files in sub-folders get the sub-folder's name as their class (``y``), as torchvision's
``ImageFolder`` does; files directly in the folder have no class.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hourglass.errors import DataFileError, InvalidInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MODES = {"grayscale": "L", "rgb": "RGB"}


@dataclass
class ImageFolder:
    """Images read from a folder. ``x``: float32 ``(n, c, h, w)`` in [0, 1]; ``y``: class index
    per image from its sub-folder (-1 for files at the top level), or ``None`` when there are no
    sub-folders; ``class_names``; ``files``: the path of each image, in order."""

    x: np.ndarray
    y: np.ndarray | None
    class_names: list[str]
    files: list[str]


def read_image_folder(path, *, size=None, color: str = "grayscale", skip_unreadable: bool = False) -> ImageFolder:
    """Read every image under ``path`` (recursively, sorted by path).

    Parameters
    ----------
    size : (height, width) or int, optional
        Resize every image to this shape (bilinear); default: the first image's shape.
    color : {"grayscale", "rgb"}
        Convert every image to one channel or three.
    skip_unreadable : bool, default False
        An unreadable or corrupt file is an error naming it; with True it is skipped with a
        warning that names every skipped file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     Image.fromarray(np.full((8, 6), 60 * i, np.uint8)).save(os.path.join(root, f"{i}.png"))
    >>> folder = read_image_folder(root)
    >>> folder.x.shape, float(folder.x.max())
    ((2, 1, 8, 6), 0.23529411852359772)
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise DataFileError(f"{root}: no such folder")
    if color not in MODES:
        raise InvalidInputError(f"color must be one of {sorted(MODES)}, got {color!r}")
    if size is not None:
        size = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise InvalidInputError(f"size must be (height, width) with positive sides, got {size!r}")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise DataFileError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)})")

    arrays, kept, bad = [], [], []
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert(MODES[color])
                if size is None:
                    size = (im.height, im.width)
                if (im.height, im.width) != size:
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            bad.append(f"{f} ({type(exc).__name__}: {exc})")
            continue
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        kept.append(f)
    if bad and not skip_unreadable:
        raise DataFileError(
            f"{root}: {len(bad)} unreadable image file(s): "
            + "; ".join(bad[:10])
            + (" ..." if len(bad) > 10 else "")
            + " (skip_unreadable=True skips them)"
        )
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image file(s): " + "; ".join(bad), UserWarning, stacklevel=2)
    if not arrays:
        raise DataFileError(f"{root}: none of the {len(files)} image files could be read")

    parents = [f.parent.relative_to(root) for f in kept]
    class_names = sorted({str(p.parts[0]) for p in parents if p.parts})
    y = None
    if class_names:
        index = {c: i for i, c in enumerate(class_names)}
        y = np.asarray([index[str(p.parts[0])] if p.parts else -1 for p in parents], dtype=np.int64)
    return ImageFolder(
        x=np.stack(arrays).astype(np.float32), y=y, class_names=class_names, files=[str(f) for f in kept]
    )
