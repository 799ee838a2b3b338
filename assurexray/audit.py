"""The ``audit`` job: which heatmap can be trusted, measured against the annotations.

Every candidate heatmap (method × target layer) and three trivial baselines are
drawn for the chosen annotated images, scored against the tumour masks in the
original image frame, and checked on a subset of images for model dependence
(sanity), faithfulness (ROAD) and stability. See :mod:`assurexray.audit_summary`
for the ranking and :mod:`assurexray.audit_report` for the files written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from assurexray.annotated_images import choose_annotated
from assurexray.annotations import draw_annotation, load_labelme
from assurexray.audit_checks import AuditImage, all_maps, run_checks
from assurexray.audit_summary import RANK_SCORES, Scores, summarise
from assurexray.baselines import BASELINES
from assurexray.cam_engine import CandidateMaps
from assurexray.candidates import DEFAULT_METHODS, Candidate, build_candidates
from assurexray.compare import OVERRIDES as COMPARE_OVERRIDES
from assurexray.compare import CompareOptions
from assurexray.errors import AnnotationError, ConfigError, DatasetError, ExplainError
from assurexray.explain import resolve_target_layers
from assurexray.faithfulness import DEFAULT_PERCENTILES
from assurexray.jobs import OpenedModel, Overrides, Progress, Warn, no_progress, no_warn
from assurexray.metrics import localisation_scores
from assurexray.report import check_output_folder
from assurexray.sanity import DEFAULT_DEPTH, DEFAULT_THRESHOLD
from assurexray.streaming import LoadedImage, LoadFailure, batched, load_images

if TYPE_CHECKING:
    from assurexray.config import Settings
    from assurexray.jobs import StreamOptions

OWN_OVERRIDES = "methods layers rank_by check_images output"  # the others choose images


@dataclass(frozen=True)
class AuditOptions:
    """What the audit compares and how thoroughly it checks.

    ``compare`` holds the image choice (data set or folders, split, per class,
    thresholds, annotation mode, streaming) exactly as the ``compare`` job
    takes it; ``output`` is where the audit's files go.
    """

    output: Path
    compare: CompareOptions
    methods: tuple[str, ...] = DEFAULT_METHODS
    layers: tuple[str, ...] = ()
    rank_by: str = "localisation"
    check_images: int = 12
    sanity_depth: int = DEFAULT_DEPTH
    sanity_threshold: float = DEFAULT_THRESHOLD
    road_percentiles: tuple[int, ...] = DEFAULT_PERCENTILES
    shown_images: int = 4
    seed: int = 0
    colormap: str = "jet"

    @property
    def stream(self) -> StreamOptions:
        """How images stream through the model (the image choice's own)."""
        return self.compare.stream

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AuditOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``methods``, ``layers``, ``rank_by``, ``check_images``,
        ``output``, and the image choice of :meth:`CompareOptions.from_settings`
        (``data``, ``images``, ``annotations``, ``per_class``, ``all_images``, ...).

        Raises:
            ConfigError: an unknown ranking score.
        """
        given = Overrides(cls, overrides, f"{OWN_OVERRIDES} {COMPARE_OVERRIDES}")
        configured = settings.audit
        chosen_rank = given.pick("rank_by", configured.rank_by)
        if chosen_rank not in RANK_SCORES:
            raise ConfigError(
                f"--rank-by must be one of {', '.join(RANK_SCORES)}, not {chosen_rank!r}"
            )
        compare = {k: v for k, v in given.items() if k not in OWN_OVERRIDES.split()}
        if compare.get("per_class") is None:  # the audit's own number, not compare's
            compare["per_class"] = configured.per_class
        return cls(
            output=Path(given.pick("output", configured.output)),
            compare=CompareOptions.from_settings(settings, **compare),
            methods=tuple(given.get("methods") or configured.methods),
            layers=tuple(given.get("layers") or configured.layers),
            rank_by=chosen_rank,
            check_images=given.pick("check_images", configured.check_images),
            sanity_depth=configured.sanity_depth,
            sanity_threshold=configured.sanity_threshold,
            road_percentiles=tuple(configured.road_percentiles),
            shown_images=configured.shown_images,
            seed=settings.seed,
            colormap=settings.explain.colormap,
        )


@dataclass
class AuditResult:
    report: dict[str, Any]
    shown: list[AuditImage]
    files: list[Path] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def run(
    model: OpenedModel,
    options: AuditOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
) -> AuditResult:
    """The ``audit`` job: choose images as ``compare`` does, score and check every candidate,
    and write ``audit_report.json``, ``audit.csv``, ``audit_leaderboard.png`` and
    ``audit_methods.png``.

    Raises:
        DatasetError: no annotated image to audit.
        ExplainError: an unknown method or layer.
    """
    from assurexray.audit_report import settings_record, versions, write_outputs, write_page

    checkpoint = model.checkpoint
    final_layer = resolve_target_layers(checkpoint.model, checkpoint.target_layer or "auto")[0][0]
    candidates = build_candidates(
        checkpoint.model,
        methods=options.methods,
        layers=options.layers,
        final_layer=final_layer,
        input_size=(
            checkpoint.preprocess.channels,
            checkpoint.preprocess.image_size,
            checkpoint.preprocess.image_size,
        ),
    )  # checked before any image is read
    check_output_folder(options.output)  # writable, before any image is read
    chosen, counts, failures = choose_annotated(model, options.compare, progress, warn)
    if chosen.empty:
        raise DatasetError(
            "no annotated image to audit: no true positive of "
            f"{', '.join(options.compare.classes)} among the annotated images (try --all)"
        )
    result = score_candidates(chosen, model, candidates, final_layer, options, progress)
    result.failures = failures + result.failures
    result.report.update(
        {
            "per_class_counts": counts,
            "selection": "every annotated image"
            if options.compare.per_class is None
            else f"true positives, up to {options.compare.per_class} per class",
            "errors": result.failures,
            "checkpoint": model.describe(),
            "settings": settings_record(options),
            "versions": versions(),
        }
    )
    result.files = write_outputs(result, options)
    result.files.append(write_page(result, options))
    return result


def score_candidates(
    chosen: pd.DataFrame,
    model: OpenedModel,
    candidates: list[Candidate],
    final_layer: str,
    options: AuditOptions,
    progress: Progress = no_progress,
) -> AuditResult:
    """Score every candidate and baseline on ``chosen`` (``image_id, path, label,
    annotation``), then run the checks on a balanced subset.

    Raises:
        ExplainError: no image could be scored.
    """
    config, stream = model.preprocess, options.compare.stream
    device, batch_size = stream.torch_device, stream.batch_size
    lookup = {name: i for i, name in enumerate(model.class_names)}
    engine = CandidateMaps(model.checkpoint.model, candidates, final_layer=final_layer)
    scores = [Scores(c.name, c.method, c.layers) for c in candidates]
    scores += [Scores(b, b, (), is_baseline=True) for b in BASELINES]
    thresholds = [f"{t:g}" for t in options.compare.thresholds]
    rows = list(chosen.itertuples())
    order = _check_order(chosen)
    checked = set(order[: options.check_images])
    to_show = set(order[: options.shown_images])
    checks: list[AuditImage] = []
    shown: list[AuditImage] = []
    chance: list[float] = []
    excluded: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    images = load_images(
        [str(r.path) for r in rows], config, max_pixels=stream.max_pixels, workers=stream.workers
    )
    done = 0
    for chunk in batched(zip(rows, images, strict=True), batch_size):
        done += len(chunk)
        good = _usable(chunk, options, failures, excluded)
        if good:
            batch = torch.from_numpy(np.stack([g[1].tensor for g in good])).to(device)
            targets = [lookup[g[0].label] for g in good]
            maps = all_maps(engine, batch, targets, config, options.seed)
            for n, (row, item, mask) in enumerate(good):
                chance.append(float(mask.mean()))
                for entry in scores:
                    heat = item.geometry.heatmap_to_original(maps[entry.name][n])
                    result = localisation_scores(heat, mask, options.compare.thresholds)
                    entry.per_image.append({"image_id": str(row.image_id), **_compact(result)})
                    entry.classes.append(row.label)
                show = row.Index in to_show
                if row.Index in checked or show:
                    image = AuditImage(
                        str(row.image_id),
                        row.label,
                        item.tensor,
                        targets[n],
                        maps={k: v[n] for k, v in maps.items()},
                    )
                    if row.Index in checked:
                        checks.append(image)
                    if show:
                        image.mask, image.gray, image.geometry = (
                            mask,
                            item.radiograph.pixels,
                            item.geometry,
                        )
                        shown.append(image)
        progress("audit", done, len(rows))
    if not chance:
        raise ExplainError("no annotated image could be scored (see the errors above)")
    stability_dropped = run_checks(
        model.checkpoint.model, engine, checks, scores, options, config, device, progress
    )
    explainer = model.explainer
    configured = Candidate(explainer.method, explainer.target_layer_names).name
    summary = summarise(
        scores,
        thresholds=thresholds,
        rank_by=options.rank_by,
        seed=options.seed,
        chance=chance,
        seed_candidate=configured,
    )
    report = {
        "num_images": len(chance),
        "num_checked": len(checks),
        "stability_dropped": stability_dropped,
        "iou_thresholds": list(options.compare.thresholds),
        **summary,
        "excluded": excluded,
        "per_image": _per_image(scores, chance),
        "interrupted": False,
    }
    return AuditResult(report=report, shown=shown, failures=failures)


def _usable(
    chunk: list[tuple[Any, LoadedImage | LoadFailure]],
    options: AuditOptions,
    failures: list[dict[str, str]],
    excluded: list[dict[str, str]],
) -> list[tuple]:
    """The images of a chunk that can be scored, with their masks; the rest are recorded."""
    good = []
    for row, item in chunk:
        if isinstance(item, LoadFailure):
            failures.append({"image_id": str(row.image_id), "error": item.error})
            continue
        try:
            mask, empty = _mask(
                Path(row.annotation),
                item.radiograph.size,
                options.compare.annotation_mode,
                options.compare.stream.max_pixels,
            )
        except AnnotationError as exc:
            failures.append({"image_id": str(row.image_id), "error": str(exc)})
            continue
        if empty is not None:
            excluded.append(
                {"image_id": str(row.image_id), "reason": f"empty tumour mask: {empty}"}
            )
            continue
        good.append((row, item, mask))
    return good


def _check_order(chosen: pd.DataFrame) -> list[int]:
    """Row positions interleaved by class, so the checked subset is balanced."""
    rank = chosen.groupby("label", sort=True).cumcount()
    return list(rank.sort_values(kind="stable").index)


def _mask(
    path: Path, size: tuple[int, int], mode: str, max_pixels: int
) -> tuple[np.ndarray, str | None]:
    """The tumour mask in the image's frame, and why it is empty if it is."""
    annotation = load_labelme(path, max_pixels=max_pixels).resized(size)
    drawn = draw_annotation(annotation, size, mode=mode)
    return drawn.mask, drawn.empty_reason


def _compact(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: scores[k] for k in ("iou", "otsu_iou", "hit", "relevance_mass")}


def _per_image(scores: list[Scores], chance: list[float]) -> list[dict[str, Any]]:
    rows = []
    for n, fraction in enumerate(chance):
        first = scores[0].per_image[n]
        rows.append(
            {
                "image_id": first["image_id"],
                "class": scores[0].classes[n],
                "mask_fraction": fraction,
                "scores": {
                    s.name: {k: v for k, v in s.per_image[n].items() if k != "image_id"}
                    for s in scores
                },
            }
        )
    return rows
