"""The ``infer`` job: explain image files and write one result set per image.

:func:`run` with :class:`InferOptions` is the job; the batched model work is
in :mod:`assurexray.streaming`.

Per image: ``<name>_overlay.png``, ``<name>_heatmap.png``, ``<name>.json`` (and
``<name>_heatmap.npy`` on request). For a run: ``predictions.csv`` and
``batch_results.json``, written even when the run is interrupted, so nothing
already computed is lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assurexray import __version__
from assurexray.errors import AssureXrayError
from assurexray.imaging import IMAGE_EXTENSIONS, is_image_file
from assurexray.jobs import OpenedModel, Progress, StreamOptions, no_progress, pick
from assurexray.report import atomic_path, write_csv, write_json, write_png
from assurexray.streaming import ExplainedImage, LoadFailure, explain_paths

if TYPE_CHECKING:
    from assurexray.config import Settings


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
            files.extend(sorted(p for p in path.glob(pattern) if p.is_file() and is_image_file(p)))
        elif path.is_file():
            files.append(path)
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


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """A distinct, relative output name per file.

    The stem, then the suffix where stems clash in one folder (``case1_dcm``),
    then parent folder names in front where they clash across folders
    (``site_a__scan``), and a number as the last resort.
    """

    def name(path: Path, depth: int, with_suffix: bool) -> str:
        parents = [p for p in path.parent.parts if p not in (path.anchor, "..", ".")]
        stem = f"{path.stem}_{path.suffix.lstrip('.')}" if with_suffix else path.stem
        return "__".join([*parents[len(parents) - depth :], stem]) if depth else stem

    stems = Counter((f.parent, f.stem) for f in files)
    suffixed = {f: stems[(f.parent, f.stem)] > 1 for f in files}
    depth = dict.fromkeys(files, 0)
    while True:
        names = {f: name(f, depth[f], suffixed[f]) for f in files}
        clashes = Counter(names.values())
        grow = [f for f in files if clashes[names[f]] > 1 and depth[f] < len(f.parent.parts)]
        if not grow:
            break
        for f in grow:
            depth[f] += 1
    seen: Counter[str] = Counter()
    for f in files:
        seen[names[f]] += 1
        if seen[names[f]] > 1:
            names[f] = f"{names[f]}_{seen[names[f]]}"
    return names


@dataclass
class InferRun:
    """Per-image results and failures of one run, and where its files went."""

    output: Path
    class_names: tuple[str, ...]
    checkpoint: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # predictions.csv, input order

    def summary(self) -> dict[str, Any]:
        counts = Counter(r["predicted_class"] for r in self.results)
        return {
            "package_version": __version__,
            "checkpoint": self.checkpoint,
            "num_processed": len(self.results),
            "num_failed": len(self.failures),
            "counts_per_class": {name: counts.get(name, 0) for name in self.class_names},
            "results": self.results,
            "errors": self.failures,
        }

    def write_batch_files(self) -> dict[str, Path]:
        """Write ``predictions.csv`` and ``batch_results.json``."""
        import pandas as pd

        return {
            "predictions": write_csv(self.output / "predictions.csv", pd.DataFrame(self.rows)),
            "batch_results": write_json(self.output / "batch_results.json", self.summary()),
        }


@dataclass(frozen=True)
class RenderOptions:
    """How the per-image pictures are drawn."""

    alpha: float = 0.4
    colormap: str = "jet"
    images: bool = True
    save_raw: bool = False
    max_side: int = 1024


@dataclass(frozen=True)
class InferOptions:
    """What the ``infer`` job explains, and how it writes the results."""

    inputs: tuple[Path, ...]
    output: Path = Path("results/inference")
    recursive: bool = False
    target_class: str | None = None
    render: RenderOptions = field(default_factory=RenderOptions)
    stream: StreamOptions = field(default_factory=StreamOptions)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        inputs: Sequence[Path],
        output: Path | None = None,
        recursive: bool = False,
        target_class: str | None = None,
        alpha: float | None = None,
        images: bool = True,
        save_raw: bool = False,
        batch_size: int | None = None,
        device: str | None = None,
    ) -> InferOptions:
        """Options from the config; arguments left at None (or False) keep its values.

        Folders among ``inputs`` are expanded here, so a bad input fails before
        a model is loaded.
        """
        recursive = recursive or settings.infer.recursive
        files = collect_inputs(inputs, recursive=recursive).files if inputs else []
        return cls(
            inputs=tuple(files),
            output=Path(pick(output, settings.infer.output)),
            recursive=recursive,
            target_class=target_class,
            render=RenderOptions(
                alpha=pick(alpha, settings.explain.alpha),
                colormap=settings.explain.colormap,
                images=images,
                save_raw=save_raw,
            ),
            stream=StreamOptions.from_settings(settings, batch_size=batch_size, device=device),
        )


def write_image_result(
    item: ExplainedImage,
    name: str,
    run: InferRun,
    *,
    method: str,
    target_layers: Sequence[str],
    render: RenderOptions,
) -> dict[str, Any]:
    """Write one image's files and return its JSON record (also added to ``run``)."""
    from assurexray import render as draw

    names = run.class_names
    predicted = names[item.predicted]
    confidence = float(item.probabilities[item.predicted])
    files: dict[str, str] = {}
    out = run.output
    if render.images:
        gray = draw.fit_display(item.image.radiograph.pixels, render.max_side)
        heat = draw.fit_display(item.heatmap, render.max_side)
        overlay = draw.overlay(gray, heat, alpha=render.alpha, colormap=render.colormap)
        caption = f"{predicted} {confidence:.1%}"
        if item.target != item.predicted:
            caption += f" | heatmap: {names[item.target]}"
        files["overlay"] = str(
            write_png(out / f"{name}_overlay.png", draw.add_caption(overlay, caption))
        )
        files["heatmap"] = str(
            write_png(out / f"{name}_heatmap.png", draw.colorize(heat, render.colormap))
        )
    if render.save_raw:
        with atomic_path(out / f"{name}_heatmap.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, item.heatmap.astype(np.float32))
        files["heatmap_raw"] = str(out / f"{name}_heatmap.npy")
    record = {
        "image_path": str(item.image.path),
        "image_size": {
            "height": item.image.radiograph.height,
            "width": item.image.radiograph.width,
        },
        "predicted_class": predicted,
        "predicted_index": item.predicted,
        "confidence": confidence,
        "probabilities": {n: float(p) for n, p in zip(names, item.probabilities, strict=True)},
        "explained_class": names[item.target],
        "explained_index": item.target,
        "heatmap_empty": item.empty,
        "method": method,
        "target_layers": list(target_layers),
        "checkpoint": run.checkpoint,
        "outputs": files,
        "package_version": __version__,
    }
    files["json"] = str(out / f"{name}.json")
    write_json(out / f"{name}.json", record)
    run.results.append(record)
    run.rows.append(
        {
            "image": record["image_path"],
            "predicted_class": predicted,
            "confidence": confidence,
            **{f"p_{k}": v for k, v in record["probabilities"].items()},
            "error": "",
        }
    )
    return record


def record_failure(run: InferRun, failure: LoadFailure) -> None:
    run.failures.append({"image_path": str(failure.path), "error": failure.error})
    run.rows.append({"image": str(failure.path), "error": failure.error})


def process(
    items: Iterator[ExplainedImage | LoadFailure],
    names: dict[Path, str],
    run: InferRun,
    *,
    method: str,
    target_layers: Sequence[str],
    render: RenderOptions,
    on_item: Callable[[ExplainedImage | LoadFailure], None] | None = None,
) -> InferRun:
    """Consume explained images, writing each as it comes; batch files at the end.

    The batch files are written in a ``finally`` block, so an interrupted or
    failing run still records every image finished before it stopped.
    """
    run.output.mkdir(parents=True, exist_ok=True)  # an unwritable folder fails before any work
    try:
        for item in items:
            if isinstance(item, ExplainedImage):
                try:
                    write_image_result(
                        item,
                        names[item.image.path],
                        run,
                        method=method,
                        target_layers=target_layers,
                        render=render,
                    )
                except OSError as exc:
                    path = item.image.path
                    item = LoadFailure(
                        path, f"{path}: cannot write results ({exc.strerror or exc})"
                    )
            if isinstance(item, LoadFailure):
                record_failure(run, item)
            if on_item:
                on_item(item)
    finally:
        run.write_batch_files()
    return run


def run(
    model: OpenedModel, options: InferOptions, *, progress: Progress = no_progress
) -> InferRun:
    """The ``infer`` job: explain every input image and write its files.

    Files that cannot be read are recorded in the returned run's ``failures``
    and the others go on. ``predictions.csv`` and ``batch_results.json`` are
    written even when the run is interrupted (Ctrl-C propagates afterwards).

    Raises:
        AssureXrayError: no inputs found, or an unknown ``target_class``.
    """
    found = collect_inputs(options.inputs, recursive=options.recursive)
    explainer = model.explainer
    target = explainer.class_index(options.target_class) if options.target_class else None
    result = InferRun(
        output=options.output, class_names=model.class_names, checkpoint=model.describe()
    )
    items = explain_paths(
        found.files,
        explainer,
        model.preprocess,
        options.stream,
        targets=[target] * len(found.files) if target is not None else None,
    )
    total = len(found.files)
    done = 0
    progress("explain", done, total)

    def advance(_: ExplainedImage | LoadFailure) -> None:
        nonlocal done
        done += 1
        progress("explain", done, total)

    return process(
        items,
        output_names(found.files),
        result,
        method=explainer.method,
        target_layers=explainer.target_layer_names,
        render=options.render,
        on_item=advance,
    )
