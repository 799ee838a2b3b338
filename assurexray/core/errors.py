"""Exceptions raised for bad input.

Every message is one line that names the file (or option) and what is wrong;
the command line prints it in red and exits non-zero, never with a traceback.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class AssureXrayError(Exception):
    """Base class of every error meant for the user, not for a traceback."""


class ConfigError(AssureXrayError):
    """A configuration file or option has a bad key or value."""


class ImageReadError(AssureXrayError):
    """An image file is missing, empty, corrupt, too large or of an unsupported kind."""


class CheckpointError(AssureXrayError):
    """A checkpoint is missing, corrupt, unsafe, or does not fit the model."""


class ExplainError(AssureXrayError):
    """A heatmap method, target layer or target class cannot be used."""


class AnnotationError(AssureXrayError):
    """A LabelMe annotation file is malformed or does not fit its image."""


class DatasetError(AssureXrayError):
    """A data set folder, index or split is missing pieces or inconsistent."""


class OutputError(AssureXrayError):
    """An output file or folder cannot be written (checked before the work starts)."""


def why_missing(path: Path) -> str:
    """Why a named file cannot be opened: ``"not found"``, or what is wrong with its link."""
    if path.is_symlink():  # a dangling link, or a loop of links
        try:
            path.stat()
        except OSError as exc:
            return f"is a broken symbolic link ({exc.strerror or 'cannot be followed'})"
    return "not found"


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(path: str | Path) -> str | None:
    """What ``path`` is when it is neither a regular file nor a folder (links
    followed): ``"a named pipe (FIFO)"``, a socket or a device; else None (also
    when it does not exist). Only ``stat`` is called: nothing is opened."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "a special file")


def refuse_special(path: str | Path, error: type[AssureXrayError] = AssureXrayError) -> None:
    """Raise ``error`` if ``path`` is a FIFO, socket or device, before anything opens it.

    Opening a FIFO waits for a writer, forever; reading a device may never end.
    Every reader (images, LabelMe files, tables, checkpoints, configs) calls this
    first, so only regular files are read.
    """
    kind = special_kind(path)
    if kind is not None:
        raise error(f"{path}: is {kind}, not a regular file")
