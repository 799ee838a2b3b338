"""Scoring every audit candidate and baseline over the chosen images, then the checks.

Each image's maps are scored against its tumour mask in the original frame;
a subset of the images scored, balanced across classes, is kept for the
sanity, faithfulness and stability checks of :mod:`assurexray.audit.checks`
and for the figure. Ctrl-C keeps the whole images scored so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from assurexray.annotations.labelme import load_labelme
from assurexray.annotations.masks import draw_annotation
from assurexray.audit.checks import AuditImage, all_maps, run_checks
from assurexray.audit.summary import Scores, summarise
from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import AnnotationError, ExplainError
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.streaming import LoadedImage, LoadFailure, batched, load_images
from assurexray.evaluation.adversarial import normalised_budget
from assurexray.evaluation.baselines import BASELINES
from assurexray.evaluation.metrics import localisation_scores
from assurexray.explain.cam_engine import CandidateMaps
from assurexray.explain.candidates import Candidate

if TYPE_CHECKING:
    from assurexray.audit.options import AuditOptions


@dataclass
class AuditResult:
    report: dict[str, Any]
    shown: list[AuditImage]
    files: list[Path] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: the report holds the images scored so far


def score_candidates(
    chosen: pd.DataFrame,
    model: OpenedModel,
    candidates: list[Candidate],
    final_layer: str,
    options: AuditOptions,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
    failures: list[dict[str, str]] | None = None,
) -> AuditResult:
    """Score every candidate and baseline on ``chosen`` (``image_id, path, label,
    annotation``), then run the checks on a subset of the images scored.

    The checked subset (``options.check_images``) and the shown one
    (``options.shown_images``) are chosen among the images that were scored,
    interleaved by class: an image that fails never takes a place in them.
    ``failures`` of earlier steps join the result's.

    Raises:
        ExplainError: no image could be scored (the message gives the first
            reason; every one was passed to ``warn``).
    """
    config, stream = model.preprocess, options.choice.stream
    device, batch_size = stream.torch_device, stream.batch_size
    lookup = {name: i for i, name in enumerate(model.class_names)}
    engine = CandidateMaps(model.checkpoint.model, candidates, final_layer=final_layer)
    scores = [Scores(c.name, c.method, c.layers) for c in candidates]
    scores += [Scores(b, b, (), is_baseline=True) for b in BASELINES]
    thresholds = [f"{t:g}" for t in options.choice.thresholds]
    rows = list(chosen.itertuples())
    kept: dict[str, list[tuple[int, AuditImage]]] = {}  # per class: (scored as n-th, image)
    chance: list[float] = []
    excluded: list[dict[str, str]] = []
    failures = list(failures or [])
    images = load_images(
        [str(r.path) for r in rows], config, max_pixels=stream.max_pixels, workers=stream.workers
    )
    done, interrupted = 0, False
    try:
        for chunk in batched(zip(rows, images, strict=True), batch_size):
            done += len(chunk)
            good = _usable(chunk, options, failures, excluded, warn)
            if good:
                batch = torch.from_numpy(np.stack([g[1].tensor for g in good])).to(device)
                targets = [lookup[g[0].label] for g in good]
                maps = all_maps(engine, batch, targets, config, options.seed)
                for n, (row, item, mask) in enumerate(good):
                    maps_n = {k: v[n] for k, v in maps.items()}
                    image = _record(row, item, mask, maps_n, targets[n], scores, chance, options)
                    _keep(kept, (len(chance), image), (mask, item), options)
            progress("audit", done, len(rows))
    except KeyboardInterrupt:  # keep the whole images scored so far; the checks do not run
        interrupted = _keep_whole_images(scores, chance)
    if not chance:
        if interrupted:
            raise KeyboardInterrupt
        raise _nothing_scored(failures, excluded, warn)
    checks = [] if interrupted else _balanced(kept, options.check_images)
    shown = _balanced(kept, options.shown_images)
    stability_dropped = 0
    try:
        if not interrupted:
            stability_dropped = run_checks(
                model.checkpoint.model, engine, checks, scores, options, config, device, progress
            )
    except KeyboardInterrupt:
        interrupted = True
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
        "adversarial": _adversarial_facts(scores, options, config.std),
        "iou_thresholds": list(options.choice.thresholds),
        **summary,
        "excluded": excluded,
        "per_image": _per_image(scores, chance),
        "interrupted": interrupted,
    }
    if interrupted:  # the recommendation needs every check on every image
        report["recommended"] = None
        report["verdict"][0] = (
            f"Interrupted after {len(chance)} of {len(rows)} images: these scores are partial "
            "and nothing is recommended."
        )
    return AuditResult(report=report, shown=shown, failures=failures, interrupted=interrupted)


def _adversarial_facts(scores: list[Scores], options: AuditOptions, std: Any) -> dict[str, Any]:
    """The adversarial check's budget (in grey levels and per channel in normalised units)
    and how many (image, attack) pairs flipped the prediction."""
    flips = next((s.adversarial_flips for s in scores if not s.is_baseline), [])
    return {
        "attacks": list(options.adversarial_attacks),
        "epsilon_grey_levels": options.adversarial_epsilon,
        "epsilon_normalised": normalised_budget(options.adversarial_epsilon, std),
        "pairs": len(flips),
        "flipped": int(sum(flips)),
    }


def _record(
    row: Any,
    item: LoadedImage,
    mask: np.ndarray,
    maps: dict[str, np.ndarray],
    target: int,
    scores: list[Scores],
    chance: list[float],
    options: AuditOptions,
) -> AuditImage:
    """Add one image's localisation scores to every candidate; return it for the checks."""
    chance.append(float(mask.mean()))
    for entry in scores:
        heat = item.geometry.heatmap_to_original(maps[entry.name])
        result = localisation_scores(heat, mask, options.choice.thresholds)
        entry.per_image.append({"image_id": str(row.image_id), **_compact(result)})
        entry.classes.append(row.label)
    return AuditImage(str(row.image_id), row.label, item.tensor, target, maps=maps)


def _keep(
    kept: dict[str, list[tuple[int, AuditImage]]],
    scored: tuple[int, AuditImage],
    source: tuple[np.ndarray, LoadedImage],
    options: AuditOptions,
) -> None:
    """Keep a scored image if it is among the first of its class the checks or the figure
    may need; give the ones the figure may show their mask and pixels."""
    image = scored[1]
    same = kept.setdefault(image.label, [])
    if len(same) >= max(options.check_images, options.shown_images):
        return
    if len(same) < options.shown_images:
        mask, item = source
        image.mask, image.gray, image.geometry = mask, item.radiograph.pixels, item.geometry
    same.append(scored)


def _balanced(kept: dict[str, list[tuple[int, AuditImage]]], count: int) -> list[AuditImage]:
    """The first ``count`` kept images interleaved by class: the first scored image of
    each class, then the second of each, and so on (in scoring order within a round)."""
    ranked = [(rank, n, image) for same in kept.values() for rank, (n, image) in enumerate(same)]
    ranked.sort(key=lambda entry: entry[:2])
    return [image for _, _, image in ranked[:count]]


def _nothing_scored(
    failures: list[dict[str, str]], excluded: list[dict[str, str]], warn: Warn
) -> ExplainError:
    """The error when no image could be scored: every reason is warned, the first is named."""
    reasons = [f["error"] for f in failures] + [e["reason"] for e in excluded]
    for reason in [f["error"] for f in failures]:  # the excluded were warned when found
        warn(reason)
    more = f" (and {len(reasons) - 1} more, listed above)" if len(reasons) > 1 else ""
    first = reasons[0] if reasons else "no image was chosen"
    return ExplainError(f"no annotated image could be scored: {first}{more}")


def _keep_whole_images(scores: list[Scores], chance: list[float]) -> bool:
    """Drop the scores of an image that Ctrl-C cut short; return True (interrupted)."""
    whole = min([len(chance), *(len(s.per_image) for s in scores)])
    del chance[whole:]
    for entry in scores:
        del entry.per_image[whole:]
        del entry.classes[whole:]
    return True


def _usable(
    chunk: list[tuple[Any, LoadedImage | LoadFailure]],
    options: AuditOptions,
    failures: list[dict[str, str]],
    excluded: list[dict[str, str]],
    warn: Warn = no_warn,
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
                options.choice.annotation_mode,
                options.choice.stream.max_pixels,
            )
        except AnnotationError as exc:
            failures.append({"image_id": str(row.image_id), "error": str(exc)})
            continue
        if empty is not None:
            reason = f"{row.annotation}: empty tumour mask: {empty}"
            excluded.append({"image_id": str(row.image_id), "reason": reason})
            warn(f"{row.image_id} left out of the scores: {reason}")
            continue
        good.append((row, item, mask))
    return good


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
