"""The ``infer`` job's inputs and output names: which image files to read, and
the unique name each one's result files get in the output folder.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assurexray.core.errors import AssureXrayError
from assurexray.core.naming import slug
from assurexray.imaging.reading import IMAGE_EXTENSIONS, is_image_file


@dataclass(frozen=True)
class InferInputs:
    """Image files to process, in order."""

    files: list[Path]


def collect_inputs(arguments: Sequence[str | Path], *, recursive: bool = False) -> InferInputs:
    """Expand files and folders into the list of image files to process.

    A file named directly is always tried (a bad one fails with a reason); in
    folders only files with an image extension are taken, others are skipped.

    Raises:
        AssureXrayError: an argument does not exist, or nothing was found.
    """
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            # A broken link, a link loop or a FIFO named like an image is tried, so it is
            # reported (reading refuses what is not a regular file before opening it).
            found = (p for p in path.glob(pattern) if not p.is_dir())
            files.extend(sorted(p for p in found if is_image_file(p)))
        elif path.is_file() or os.path.lexists(path):
            files.append(path)  # present but unreadable (a link loop): reading says why
        else:
            raise AssureXrayError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(files))
    if not unique:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        hint = "" if recursive else " (use --recursive for sub-folders)"
        raise AssureXrayError(
            f"no image files found in {', '.join(map(str, arguments))}; looked for {kinds}{hint}"
        )
    return InferInputs(unique)


# Files one image produces (``<name><suffix>``) and the files of the run itself.
IMAGE_OUTPUTS = (".json", "_overlay.png", "_heatmap.png", "_heatmap.npy")
RUN_FILES = ("batch_results.json", "predictions.csv", "report.html")


def output_names(files: Sequence[Path], output: Path | None = None) -> dict[Path, str]:
    """A distinct, relative, safe output name per file.

    The stem, then the suffix where stems clash in one folder (``case1_dcm``),
    then parent folder names in front where they clash across folders
    (``site_a__scan``), and a number as the last resort. Every part goes
    through :func:`assurexray.core.naming.slug`. A name is also numbered when one
    of its files would be one of the run's own files (``batch_results.json``)
    or, with ``output`` given, one of the input files themselves.
    """

    def name(path: Path, depth: int, with_suffix: bool) -> str:
        parents = [p for p in path.parent.parts if p not in (path.anchor, "..", ".")]
        stem = f"{path.stem}_{path.suffix.lstrip('.')}" if with_suffix else path.stem
        parts = [*parents[len(parents) - depth :], stem] if depth else [stem]
        return "__".join(slug(part, max_bytes=150 // len(parts)) for part in parts)

    stems = Counter((f.parent, f.stem) for f in files)
    suffixed = {f: stems[(f.parent, f.stem)] > 1 for f in files}
    depth = dict.fromkeys(files, 0)
    while True:
        names = {f: name(f, depth[f], suffixed[f]) for f in files}
        clashes = Counter(n.casefold() for n in names.values())
        grow = [
            f for f in files if clashes[names[f].casefold()] > 1 and depth[f] < len(f.parent.parts)
        ]
        if not grow:
            break
        for f in grow:
            depth[f] += 1
    taken = {n.casefold() for n in RUN_FILES}
    if output is not None:
        folder = _resolved(output)
        taken |= {f.name.casefold() for f in files if _resolved(f.parent) == folder}
    result = {}
    for f in files:
        base, number = names[f], 1
        candidate = base
        while any(f"{candidate}{s}".casefold() in taken for s in IMAGE_OUTPUTS):
            number += 1
            candidate = f"{base}_{number}"
        taken.update(f"{candidate}{s}".casefold() for s in IMAGE_OUTPUTS)
        result[f] = candidate
    return result


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:  # a loop of symbolic links
        return path.absolute()
