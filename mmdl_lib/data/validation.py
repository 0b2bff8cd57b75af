"""Checks every dataset reader shares (chapters 00–06): each failure is a ``DataFormatError`` that
names the file and the field, line or token, so bad input stops at the reader, not deep inside
training.

A new reader gets these for free: :func:`open_image` (unreadable, truncated, absurdly large or
wrongly sized images), :func:`image_header_size` (the same from the header alone),
:func:`read_text` and :func:`read_json` (missing files, bad encodings, a UTF-8 byte-order mark read
as if absent, repeated JSON keys refused), :func:`finite_numbers`, :func:`clip_to_image`,
:func:`in_range`, :func:`one_of` and :func:`unique`. Every library exception a file can provoke
(``FileNotFoundError``, ``PermissionError``, ``UnicodeDecodeError``, PIL's
``UnidentifiedImageError`` and ``DecompressionBombError``, ``json.JSONDecodeError``) stops here as
a ``DataFormatError`` naming the file. The mutation suite (``tests/data/test_mutations.py``)
applies single defects to every reader declared in a module's ``READS``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataFormatError
from ..io import read_json

__all__ = ["MAX_IMAGE_PIXELS", "read_text", "read_json", "open_image", "image_header_size", "same_size",
           "finite_numbers", "clip_to_image", "in_range", "one_of", "unique"]

MAX_IMAGE_PIXELS = 64_000_000  # 8000 × 8000: far above any camera of the book's datasets


def read_text(path: str | Path, what: str = "file") -> str:
    """The file's UTF-8 text (a byte-order mark dropped); a missing, unreadable or otherwise
    encoded file names the file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, f"{what} not found" if not path.exists() else f"{what} is not a file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:  # e.g. no permission to read
        raise DataFormatError(path, f"cannot read {what} ({e.strerror or e})") from None


@contextlib.contextmanager
def _reading_image(path: Path, field: str | None) -> Iterator[None]:
    """Opening ``path`` with PIL inside the block: a missing file, a decompression bomb, a file that is
    not an image and truncated or corrupt data each become an error naming the file."""
    if not path.is_file():
        raise DataFormatError(path, "image not found", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataFormatError(path, f"refused as a decompression bomb ({e})", field) from None
    except UnidentifiedImageError:
        raise DataFormatError(path, "not an image PIL can read", field) from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise DataFormatError(path, f"unreadable image ({e})", field) from None


def _refuse_bomb(path: Path, size: tuple[int, int], field: str | None) -> None:
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise DataFormatError(path, f"image of {size[0]}×{size[1]} pixels is larger than {MAX_IMAGE_PIXELS} "
                                    "(a decompression bomb?)", field)


def open_image(path: str | Path, size: tuple[int, int] | None = None, modes: Sequence[str] | None = None,
               field: str | None = None) -> Image.Image:
    """Open and fully decode an image, or raise naming ``path``.

    ``size`` (width, height) is what an annotation says the image is; ``modes`` the PIL modes a
    reader accepts (e.g. ``("I;16", "I")`` for a 16-bit depth map). Truncated files, files that are
    not images and images above :data:`MAX_IMAGE_PIXELS` (decompression bombs) are refused.
    """
    path = Path(path)
    with _reading_image(path, field), Image.open(path) as im:
        _refuse_bomb(path, im.size, field)
        im.load()
        image = im.copy()
    if size is not None and tuple(image.size) != tuple(size):
        raise DataFormatError(path, f"image is {image.width}×{image.height}, the annotation says "
                                    f"{size[0]}×{size[1]}", field)
    if modes is not None and image.mode not in modes:
        raise DataFormatError(path, f"image mode {image.mode!r}, expected one of {list(modes)}", field)
    return image


def image_header_size(path: str | Path, field: str | None = None) -> tuple[int, int]:
    """(width, height) from the header alone (cheap); :func:`open_image` decodes and checks the rest."""
    path = Path(path)
    with _reading_image(path, field), Image.open(path) as im:
        size = im.size
    _refuse_bomb(path, size, field)
    return size


def same_size(path: str | Path, size: tuple[int, int], expected: tuple[int, int], what: str,
              field: str | None = None) -> None:
    """An image of one dataset whose size differs from ``expected`` (its camera's, its annotation's)
    is an error naming the file and both sizes, not something to rescale; ``what`` introduces the
    expected size ("the annotation says")."""
    if tuple(size) != tuple(expected):
        raise DataFormatError(path, f"image is {size[0]}×{size[1]}, {what} {expected[0]}×{expected[1]}", field)


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
