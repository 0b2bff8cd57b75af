"""Checks every dataset reader shares (chapters 00–06): each failure is a ``DataFormatError`` that
names the file and the field, line or token, so bad input stops at the reader, not deep inside
training.

A new reader gets these for free: :func:`open_image` (unreadable, truncated, absurdly large or
wrongly sized images), :func:`read_text` (missing files, bad encodings), :func:`finite_numbers`,
:func:`clip_to_image`, :func:`in_range`, :func:`one_of` and :func:`unique`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataFormatError

MAX_IMAGE_PIXELS = 64_000_000  # 8000 × 8000: far above any camera of the book's datasets


def read_text(path: str | Path, what: str = "file") -> str:
    """The file's UTF-8 text; a missing file or another encoding names the file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, f"{what} not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not UTF-8 text (byte {e.start}: {e.reason})") from None


def open_image(path: str | Path, size: tuple[int, int] | None = None, modes: Sequence[str] | None = None,
               field: str | None = None) -> Image.Image:
    """Open and fully decode an image, or raise naming ``path``.

    ``size`` (width, height) is what an annotation says the image is; ``modes`` the PIL modes a
    reader accepts (e.g. ``("I;16", "I")`` for a 16-bit depth map). Truncated files, files that are
    not images and images above :data:`MAX_IMAGE_PIXELS` (decompression bombs) are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "image not found", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_IMAGE_PIXELS:
                    raise DataFormatError(path, f"image of {im.width}×{im.height} pixels is larger than "
                                                f"{MAX_IMAGE_PIXELS} (a decompression bomb?)", field)
                im.load()
                image = im.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataFormatError(path, f"refused as a decompression bomb ({e})", field) from None
    except UnidentifiedImageError:
        raise DataFormatError(path, "not an image PIL can read", field) from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise DataFormatError(path, f"unreadable image ({e})", field) from None
    if size is not None and tuple(image.size) != tuple(size):
        raise DataFormatError(path, f"image is {image.width}×{image.height}, the annotation says "
                                    f"{size[0]}×{size[1]}", field)
    if modes is not None and image.mode not in modes:
        raise DataFormatError(path, f"image mode {image.mode!r}, expected one of {list(modes)}", field)
    return image


def image_header_size(path: str | Path, field: str | None = None) -> tuple[int, int]:
    """(width, height) from the header alone (cheap); :func:`open_image` decodes and checks the rest."""
    try:
        with Image.open(path) as im:
            return im.size
    except UnidentifiedImageError:
        raise DataFormatError(path, "not an image PIL can read", field) from None
    except OSError as e:
        raise DataFormatError(path, f"unreadable image ({e})", field) from None


def finite_numbers(values: Iterable[Any], path: str | Path, field: str) -> list[float]:
    """``values`` as floats; a non-number, a bool, NaN or an infinity is an error naming ``field``."""
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise DataFormatError(path, f"expected a number, got {value!r}", field)
        if not math.isfinite(float(value)):
            raise DataFormatError(path, f"expected a finite number, got {value!r}", field)
        out.append(float(value))
    return out


MIN_INSIDE = 0.5  # a box overhanging its image is clipped if at least half of it lies inside


def clip_to_image(box: Sequence[float], width: int, height: int, path: str | Path, field: str,
                  what: str) -> tuple[list[float], bool]:
    """``[x, y, w, h]`` clipped to the image, and whether it had to be; a box with no area or mostly
    outside the image is an error naming ``what`` (e.g. ``"command 3f2a…"``)."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise DataFormatError(path, f"{what}: box {list(box)} has no area", field)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if max(x1 - x0, 0) * max(y1 - y0, 0) < MIN_INSIDE * w * h:
        raise DataFormatError(path, f"{what}: box {list(box)} lies mostly outside the {width}×{height} image "
                                    "(only a small overhang is clipped)", field)
    clipped = [x0, y0, x1 - x0, y1 - y0]
    return clipped, clipped != [x, y, w, h]


def in_range(value: float, low: float, high: float, path: str | Path, field: str) -> float:
    if not low <= value <= high:
        raise DataFormatError(path, f"{value!r} is outside [{low}, {high}]", field)
    return value


def one_of(value: Any, choices: Sequence[Any], path: str | Path, field: str) -> Any:
    if value not in choices:
        raise DataFormatError(path, f"{value!r} is not one of {list(choices)}", field)
    return value


def unique(values: Iterable[Any], path: str | Path, field: str) -> None:
    """Every value once: a repeated id or token is an error naming the first repeat."""
    repeated = [v for v, n in Counter(values).items() if n > 1]
    if repeated:
        raise DataFormatError(path, f"{repeated[0]!r} appears more than once ({len(repeated)} repeated)", field)
