"""Single defects applied to one file of a copy of a dataset (tests/data/test_mutations.py).

Each :class:`Mutation` edits one file in place and applies to some file kinds (by suffix, see
:func:`kind`); ``apply`` returns False where the file offers nothing to mutate (no number to turn
into a string, no JSON object to repeat a key of), and the test is then skipped with that reason.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

KINDS = {".json": "json", ".txt": "text", ".csv": "text", ".png": "image", ".jpg": "image", ".jpeg": "image",
         ".bin": "floats", ".npy": "npy", ".safetensors": "safetensors", ".pt": "pickle"}
ALL = frozenset(KINDS.values())
TEXTUAL = frozenset({"json", "text"})
BINARY = frozenset({"image", "npy", "safetensors", "pickle"})  # formats with a header a reader can check


def kind(path: Path) -> str:
    return KINDS[path.suffix.lower()]


@dataclass(frozen=True)
class Mutation:
    name: str
    kinds: frozenset[str]
    apply: Callable[[Path], bool]
    what: str  # a line for the report


# --- every kind ---------------------------------------------------------------------------------

def _missing(path: Path) -> bool:
    path.unlink()
    return True


def _empty(path: Path) -> bool:
    path.write_bytes(b"")
    return True


def _truncated(path: Path) -> bool:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 1])  # +1: never a whole number of 16-byte points
    return True


def _directory(path: Path) -> bool:
    path.unlink()
    path.mkdir()
    return True


def _extra(path: Path) -> bool:
    (path.parent / "NOTES.txt").write_text("an unexpected file beside the data\n")
    return True


def _unreadable(path: Path) -> bool:
    path.chmod(0)
    return True


# --- text and JSON ------------------------------------------------------------------------------

def _bom(path: Path) -> bool:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return True


def _not_utf8(path: Path) -> bool:
    data = path.read_bytes()
    cut = max(data.find(b"\n"), 1)
    path.write_bytes(data[:cut] + b"\xff" + data[cut:])  # a Latin-1 byte inside the first line
    return True


NUMBER = re.compile(rb"(?<![\w.\-])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


def _replace_number(replacement: bytes, json_replacement: bytes) -> Callable[[Path], bool]:
    """The first number of the file (outside JSON strings) becomes ``replacement``."""

    def apply(path: Path) -> bool:
        data = path.read_bytes()
        if path.suffix == ".json":
            span, new = _first_json_number(data), json_replacement
        else:
            match = NUMBER.search(data)
            span, new = (match.span() if match else None), replacement
        if span is None:
            return False
        path.write_bytes(data[: span[0]] + new + data[span[1]:])
        return True

    return apply


JSON_TOKEN = re.compile(rb'"(?:\\.|[^"\\])*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?')


def _first_json_number(data: bytes) -> tuple[int, int] | None:
    """Byte span of the first number token outside JSON strings."""
    for m in JSON_TOKEN.finditer(data):
        if not m[0].startswith(b'"'):
            return m.start(), m.end()
    return None


def _wrong_type(path: Path) -> bool:
    """A JSON list where an object is expected, or an object where a list is."""
    top = json.loads(path.read_bytes().decode("utf-8"))
    path.write_text("[]" if isinstance(top, dict) else "{}", encoding="utf-8")
    return True


def _duplicate_key(path: Path) -> bool:
    """The first JSON object's first key written twice (raw text: ``json`` cannot write it)."""
    top = json.loads(path.read_bytes().decode("utf-8"))
    done = [False]

    def dump(value) -> str:
        if isinstance(value, dict):
            items = [f"{json.dumps(k)}: {dump(v)}" for k, v in value.items()]
            if items and not done[0]:
                done[0] = True
                items.insert(0, items[0])
            return "{" + ", ".join(items) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(dump(v) for v in value) + "]"
        return json.dumps(value)

    text = dump(top)
    path.write_text(text, encoding="utf-8")
    return done[0]


def _duplicate_line(path: Path) -> bool:
    """The last non-empty line once more (a repeated key, row, frame id or object)."""
    lines = path.read_bytes().splitlines()
    last = next((line for line in reversed(lines) if line.strip()), None)
    if last is None:
        return False
    path.write_bytes(b"\n".join([*lines, last]) + b"\n")
    return True


# --- images -------------------------------------------------------------------------------------

def _not_image(path: Path) -> bool:
    path.write_bytes(b"this is not an image\n" * 8)
    return True


def _resized(path: Path) -> bool:
    with Image.open(path) as im:
        im.load()
        small = im.resize((max(1, im.width // 2), max(1, im.height // 2)), Image.NEAREST)
        small.save(path, format=im.format)
    return True


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb(path: Path) -> bool:
    """A PNG declaring 40000×40000 pixels (1.6 gigapixels) in a few bytes, whatever the suffix."""
    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    return True


def _to_rgb(path: Path) -> bool:
    """A single-channel map (labels, depth) saved as an RGB picture of itself."""
    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA", "P"):
            return False
        array = np.asarray(im).astype(np.float64)
    scaled = (255 * array / max(array.max(), 1)).astype(np.uint8)
    Image.fromarray(np.stack([scaled] * 3, -1)).save(path, format="PNG")
    return True


# --- binary arrays ------------------------------------------------------------------------------

def _float_value(value: float) -> Callable[[Path], bool]:
    def apply(path: Path) -> bool:
        if path.suffix == ".npy":
            array = np.load(path)
            if not np.issubdtype(array.dtype, np.floating):
                return False
            array.flat[0] = value
            np.save(path, array)
            return True
        data = bytearray(path.read_bytes())  # raw float32 rows (a velodyne scan)
        data[:4] = np.float32(value).tobytes()
        path.write_bytes(bytes(data))
        return True

    return apply


def _flattened(path: Path) -> bool:
    array = np.load(path)
    if array.ndim < 2:
        return False
    np.save(path, array.ravel())
    return True


def _garbage(path: Path) -> bool:
    path.write_bytes(bytes(range(256)) * 4)
    return True


def _bad_header(path: Path) -> bool:
    """A safetensors file whose 8-byte header length points far past its end."""
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 1 << 40) + data[8:])
    return True


MUTATIONS = [
    Mutation("missing", ALL, _missing, "the file is deleted"),
    Mutation("empty", ALL, _empty, "zero bytes"),
    Mutation("truncated", ALL, _truncated, "cut to half its bytes (+1)"),
    Mutation("directory", ALL, _directory, "a folder where the file should be"),
    Mutation("extra_file", ALL, _extra, "an unexpected NOTES.txt beside it"),
    Mutation("unreadable", ALL, _unreadable, "chmod 000"),
    Mutation("bom", TEXTUAL, _bom, "a UTF-8 byte-order mark in front (accepted: read as without it)"),
    Mutation("not_utf8", TEXTUAL, _not_utf8, "a 0xFF byte in the first line"),
    Mutation("string_for_number", TEXTUAL, _replace_number(b"abc", b'"abc"'), "the first number becomes a string"),
    Mutation("nan", TEXTUAL | {"floats", "npy"}, _replace_number(b"nan", b"NaN"), "the first number becomes NaN"),
    Mutation("inf", TEXTUAL | {"floats", "npy"}, _replace_number(b"inf", b"Infinity"),
             "the first number becomes infinite"),
    Mutation("wrong_type", frozenset({"json"}), _wrong_type, "a list where an object is expected (or the reverse)"),
    Mutation("duplicate_key", frozenset({"json"}), _duplicate_key, "the first object's first key twice"),
    Mutation("duplicate_line", frozenset({"text"}), _duplicate_line, "the last line repeated"),
    Mutation("not_image", frozenset({"image"}), _not_image, "text bytes under an image's name"),
    Mutation("resized", frozenset({"image"}), _resized, "half the width and height"),
    Mutation("bomb", frozenset({"image"}), _bomb, "a PNG header declaring 40000×40000 pixels"),
    Mutation("to_rgb", frozenset({"image"}), _to_rgb, "a one-channel map saved as RGB"),
    Mutation("flattened", frozenset({"npy"}), _flattened, "the array saved flat (wrong shape)"),
    Mutation("garbage", BINARY - {"image"}, _garbage, "bytes that are no such file"),
    Mutation("bad_header", frozenset({"safetensors"}), _bad_header, "a header length past the end of the file"),
]
# NaN and infinity in binary float files go through numpy, not the text patterns above
_BINARY_FLOAT = {"nan": _float_value(float("nan")), "inf": _float_value(float("inf"))}


def apply(mutation: Mutation, path: Path) -> bool:
    """Apply ``mutation`` to ``path``; False when the file has nothing it applies to."""
    if mutation.name in _BINARY_FLOAT and kind(path) in ("floats", "npy"):
        return _BINARY_FLOAT[mutation.name](path)
    return mutation.apply(path)


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target
