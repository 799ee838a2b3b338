"""Names built from data: safe file names, safe text, and class-name checks.

Class names come from checkpoints and configs, image stems and folder names
from the disk, layer names from models. None of them is trusted to be a
file name: every output file name built from data goes through :func:`slug`,
and every such text shown or stored goes through :func:`printable`.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from typing import Any

MAX_CLASS_NAME_LENGTH = 64
# A slug leaves room for the longest suffix we add ("_heatmap.npy", "_2") and
# for report.atomic_path's temporary-name prefix, within the 255-byte limit.
MAX_SLUG_BYTES = 150
# Characters that are path separators or special to some file system (Windows).
_UNSAFE = set('/\\:*?"<>|')


def _is_control(char: str) -> bool:
    """Control, format, surrogate (undecodable byte) or unassigned characters."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def slug(text: Any, *, max_bytes: int = MAX_SLUG_BYTES) -> str:
    """A safe file-name part for ``text``: one path component, never hidden.

    Path separators, control characters, undecodable bytes of a non-UTF-8 file
    name and characters reserved on Windows become ``_``; leading dots and
    surrounding spaces go. A long name is cut to ``max_bytes`` UTF-8 bytes and
    ends in a short hash of the whole name, so two long names stay distinct.

    Args:
        text: Any value; it is turned into a string first.
        max_bytes: Longest result in UTF-8 bytes.

    Returns:
        A non-empty string holding no path separator (``unnamed`` for nothing).
    """
    raw = str(text)
    cleaned = "".join("_" if ch in _UNSAFE or _is_control(ch) else ch for ch in raw)
    cleaned = cleaned.strip(" ").lstrip(".").rstrip(". ")
    if not cleaned:
        cleaned = "unnamed"
    if len(cleaned.encode("utf-8")) > max_bytes:
        digest = hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        head = cleaned.encode("utf-8")[: max_bytes - len(digest) - 1]
        cleaned = head.decode("utf-8", "ignore").rstrip(". ") + "-" + digest
    return cleaned


def printable(text: Any) -> str:
    """``text`` safe to print and to write as UTF-8: undecodable bytes as ``\\xNN``.

    A file name that is not valid UTF-8 reaches Python with "surrogate
    escapes", which cannot be encoded for a terminal, a JSON or a CSV file.
    Control characters (a newline in a name would break the one-line rule)
    are shown escaped too.
    """
    raw = str(text)
    if raw.isprintable():
        return raw
    out = []
    for char in raw:
        if "\udc80" <= char <= "\udcff":  # an undecodable byte of a file name
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif char.isprintable() or char == " ":
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def check_class_names(value: Any, where: str) -> tuple[str, ...]:
    """Check a class-name list read from a checkpoint or config; return it as a tuple.

    Rules: a list (not one string) of at least two non-empty, distinct
    strings (distinct also when upper/lower case is ignored, as file names on
    many systems are), without path separators or control characters, each at
    most :data:`MAX_CLASS_NAME_LENGTH` characters.

    Args:
        value: The raw value.
        where: What to name in the message, e.g. ``"best.pt: 'class_names'"``.

    Raises:
        ValueError: The first rule broken, in one line that starts with ``where``.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{where} must be a list of names, got {_short(value)}")
    names = list(value)
    if len(names) < 2:
        raise ValueError(f"{where} must hold at least two names, got {_short(names)}")
    for name in names:
        problem = _name_problem(name)
        if problem:
            raise ValueError(f"{where}: class name {_short(name)} {problem}")
    folded = [n.casefold() for n in names]
    repeated = sorted({n for n in names if folded.count(n.casefold()) > 1})
    if repeated:
        raise ValueError(f"{where}: class names repeat: {', '.join(map(_short, repeated))}")
    return tuple(names)


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str):
        return f"is of type {type(name).__name__}, not text"
    if not name.strip():
        return "is empty"
    if len(name) > MAX_CLASS_NAME_LENGTH:
        return f"is longer than {MAX_CLASS_NAME_LENGTH} characters"
    if any(ch in "/\\" for ch in name):
        return "holds a path separator"
    if any(_is_control(ch) for ch in name):
        return "holds a control character"
    return None


def _short(value: Any) -> str:
    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def distinct_slugs(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Slugs of ``names``, made distinct (case-insensitively) by ``_2``, ``_3``, ...

    Args:
        names: Raw names, e.g. class names.
        reserved: Slugs that must not be produced (the run's own files).
    """
    taken = {r.casefold() for r in reserved}
    result = []
    for name in names:
        base = slug(name)
        candidate, number = base, 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate.casefold())
        result.append(candidate)
    return result
