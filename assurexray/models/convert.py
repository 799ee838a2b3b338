"""``inspect`` and ``convert``: what a checkpoint holds, and a native copy of a foreign one.

:func:`inspect_checkpoint` loads a file the way every command does and keeps
what was found where and what was assumed; :func:`convert_checkpoint` writes
the loaded model as a native checkpoint that records every fact (and where
each came from, under ``origin``), so later commands need no flags.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from assurexray.core.errors import OutputError
from assurexray.core.files import file_sha256
from assurexray.models.checkpoint import (
    Checkpoint,
    check_checkpoint_output,
    load_checkpoint,
    save_checkpoint,
)
from assurexray.models.load_options import LoadOptions


@dataclass(frozen=True)
class Inspection:
    """A loaded checkpoint with the file's size and SHA-256."""

    checkpoint: Checkpoint
    path: Path
    sha256: str
    size_bytes: int


def inspect_checkpoint(path: Path, options: LoadOptions | None = None) -> Inspection:
    """Load ``path`` as every command would (its notes kept in ``checkpoint.warnings``).

    Raises:
        CheckpointError: the file cannot be loaded (the same one line as any command's).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checkpoint = load_checkpoint(path, options=options)
    return Inspection(checkpoint, Path(path), file_sha256(path), Path(path).stat().st_size)


def convert_checkpoint(
    path: Path, output: Path, options: LoadOptions | None = None
) -> tuple[Inspection, Path]:
    """Write ``path``'s model as a native checkpoint at ``output``, every fact recorded.

    Raises:
        CheckpointError: ``path`` cannot be loaded.
        OutputError: ``output`` is ``path`` itself, or cannot be written
            (:func:`~assurexray.models.checkpoint.check_checkpoint_output`).
    """
    if output.is_file() and output.resolve() == Path(path).resolve():
        raise OutputError(f"{output}: is the file being converted; name a new checkpoint file")
    check_checkpoint_output(output)
    found = inspect_checkpoint(path, options)
    checkpoint = found.checkpoint
    origin = {
        "file": str(path),
        "sha256": found.sha256,
        "sources": dict(checkpoint.sources),
        "assumed": list(checkpoint.assumed),
    }
    written = save_checkpoint(
        output,
        checkpoint.model,
        arch=checkpoint.arch,
        class_names=checkpoint.class_names,
        preprocess=checkpoint.preprocess,
        train_metrics=checkpoint.train_metrics,
        origin=origin,
    )
    return found, written
