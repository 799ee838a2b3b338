"""Writers for JSON, CSV and images that never leave a half-written file.

Each writer writes to a temporary file in the target folder, then renames it
over the target, so a crash or Ctrl-C leaves either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assurexray.core.errors import OutputError, refuse_special
from assurexray.core.naming import printable

_SURROGATE = re.compile("[\udc80-\udcff]")


def check_output_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed and make sure files can be written in it.

    Called before any work, so an unusable output folder fails at once rather
    than after every image.

    Raises:
        OutputError: the folder cannot be created (a file is in the way, no
            permission) or written (read-only folder or file system).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file, not an output folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".assurexray-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{folder}: output folder cannot be created or written ({exc.strerror or exc})"
        ) from None
    return folder


def check_output_file(path: str | Path) -> Path:
    """Make sure ``path`` can be written as a file, before any work.

    Raises:
        OutputError: ``path`` is an existing folder, a FIFO, socket or device
            (the atomic rename would replace it), or its folder is unusable.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give the file to write (e.g. {path / 'best.pt'})")
    refuse_special(path, OutputError)
    check_output_folder(path.parent)
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Args:
        path: The final file path. Parent folders are created.

    Yields:
        A temporary path with the same suffix, to be written by the caller.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A short prefix keeps the temporary name within the 255-byte limit of a
    # file name however long the target's name is.
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem[:32]}.", suffix=target.suffix[:16]
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask changes process state


def _json_default(value: Any) -> Any:
    """Turn numpy scalars/arrays and paths into plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by None so the JSON stays standard; show the
    undecodable bytes of non-UTF-8 file names as escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return printable(value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def plain_json(data: Any) -> Any:
    """``data`` as plain JSON values: numpy values and paths converted, NaN as None."""
    # Round-trip through json to turn numpy values into floats before cleaning NaN.
    return _finite(json.loads(json.dumps(data, default=_json_default)))


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, standard JSON (NaN becomes null), atomically."""
    text = json.dumps(plain_json(data), indent=2, allow_nan=False)
    return write_text(path, text + "\n")


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(path: str | Path, frame: Any) -> Path:
    """Write a pandas DataFrame as CSV without its index, atomically."""
    with atomic_path(path) as tmp:
        # Undecodable bytes of non-UTF-8 file names would stop the writer.
        frame.to_csv(tmp, index=False, errors="backslashreplace")
    return Path(path)


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_png(path: str | Path, pixels: Any, *, palette: Any = None) -> Path:
    """Write a uint8 image as PNG, atomically (see :func:`assurexray.core.png.encode_png`).

    Args:
        path: The file to write.
        pixels: ``H×W`` grey, ``H×W×3`` RGB or ``H×W×4`` RGBA; with
            ``palette``, ``H×W`` indexes into it.
        palette: ``N×3`` RGB colours: write a palette PNG.
    """
    from assurexray.core.png import encode_png

    encoded = encode_png(pixels, palette=palette)  # before the file: a bad array writes nothing
    return write_with(path, lambda tmp: tmp.write_bytes(encoded))


def write_jpeg(path: str | Path, rgb: Any, quality: int = 92) -> Path:
    """Write an RGB uint8 array (H×W×3) or grayscale (H×W) as JPEG, atomically.

    For pictures that are only looked at (``report.html``'s): a tenth of the
    encoding time of a PNG and a third of its bytes, with no visible loss.
    """
    import cv2
    import numpy as np

    image = np.asarray(rgb)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

    def _write(tmp: Path) -> None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"{path}: could not encode JPEG")
        tmp.write_bytes(encoded.tobytes())

    return write_with(path, _write)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (read in chunks by :func:`hashlib.file_digest`)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
