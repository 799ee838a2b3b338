"""The ``demo`` job: the whole chain on a built-in synthetic data set.

Generate a BTXRD-layout phantom data set and its split, train a checkpoint,
then run the ``audit``, ``gallery``, ``compare`` and ``infer`` jobs on it, each
through its own ``run`` function; gallery, compare and infer draw the heatmap
the audit recommends (as ``--explain-from`` does), the configured one if it
recommends none. A second run reuses the data, the checkpoint and the audit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.audit import job as audit
from assurexray.audit.job import AuditOptions, AuditResult
from assurexray.core.callbacks import Progress, Warn, no_progress, no_warn
from assurexray.core.errors import DatasetError
from assurexray.demo.report import write_demo_report
from assurexray.engine.jobs import Overrides
from assurexray.engine.model_opening import ModelOptions, OpenedModel, open_model
from assurexray.inference import gallery, infer
from assurexray.inference.gallery import GalleryOptions, GalleryResult
from assurexray.inference.infer import InferOptions, InferRun
from assurexray.localisation import compare
from assurexray.localisation.compare import CompareOptions, CompareResult
from assurexray.shortcuts import job as shortcuts
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.result import ShortcutsResult
from assurexray.training import train
from assurexray.training.train import EpochResult, TrainOptions, TrainResult

if TYPE_CHECKING:
    from assurexray.core.config import Settings

StepHook = Callable[[str, Any], None]
"""``on_step(step, result)``: ``result`` is None when a step starts, then the step's result.

The ``data`` step only reports its end, with True if the data set was reused; the
``train`` step reports the checkpoint's :class:`~pathlib.Path` (and no start) when
it reuses the checkpoint instead of training.
"""


@dataclass(frozen=True)
class DemoOptions:
    """The demo's data set, and the options of every job it runs."""

    output: Path
    data: Path
    images: int
    seed: int
    fresh: bool
    train: TrainOptions
    model: ModelOptions
    gallery: GalleryOptions
    compare: CompareOptions
    audit: AuditOptions
    infer: InferOptions
    shortcuts: ShortcutsOptions | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DemoOptions:
        """Options from the config's ``demo`` block, changed by ``overrides`` (None keeps it).

        Overrides: ``output``, ``data``, ``images``, ``epochs``, ``arch``,
        ``image_size``, ``fresh``, ``device``.
        """
        given = Overrides(cls, overrides, "output data images epochs arch image_size fresh device")
        demo = settings.demo
        out = Path(given.pick("output", demo.output))
        root = Path(given.pick("data", demo.data))
        checkpoint = out / "checkpoints" / "best.pt"
        device = given.get("device")
        test_split = {"data": root, "split": "test", "device": device}
        image_choice = {**test_split, "per_class": demo.per_class}
        return cls(
            output=out,
            data=root,
            images=given.pick("images", demo.images),
            seed=settings.seed,
            fresh=bool(given.get("fresh")),
            train=TrainOptions.from_settings(
                settings,
                data=root,
                output=checkpoint.with_name("training.pt"),  # renamed once training completes
                arch=given.get("arch"),
                image_size=given.pick("image_size", demo.image_size),
                resize_mode=demo.resize_mode,
                epochs=given.pick("epochs", demo.epochs),
                device=device,
            ),
            model=ModelOptions.from_settings(settings, checkpoint=checkpoint),
            gallery=GalleryOptions.from_settings(settings, output=out / "gallery", **test_split),
            compare=CompareOptions.from_settings(settings, output=out / "compare", **image_choice),
            audit=AuditOptions.from_settings(
                settings, methods=demo.audit_methods, output=out / "audit", **image_choice
            ),
            infer=InferOptions.from_settings(
                settings, inputs=(), output=out / "inference", device=device
            ),
            shortcuts=ShortcutsOptions.from_settings(
                settings, output=out / "shortcuts", **test_split
            ),
        )


@dataclass
class DemoResult:
    """What every step of the demo produced."""

    data_reused: bool
    checkpoint: Path
    training: TrainResult | None  # None when the checkpoint was reused
    gallery: GalleryResult | None = None
    compare: CompareResult | None = None
    audit: AuditResult | None = None
    infer: InferRun | None = None
    shortcuts: ShortcutsResult | None = None
    seconds: float = 0.0
    pictures: list[Path] = field(default_factory=list)
    report: Path | None = None  # the index report.html linking each job's page
    heatmap: str = ""  # the heatmap gallery, compare and infer drew (method@layers)


def run(
    options: DemoOptions,
    *,
    progress: Progress = no_progress,
    warn: Warn = no_warn,
    on_step: StepHook | None = None,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> DemoResult:
    """Run the demo chain; steps that lose some images go on, like the commands do.

    Raises:
        KeyboardInterrupt: training was interrupted (no checkpoint is kept then).
    """
    step = on_step or (lambda _name, _result: None)
    started = time.perf_counter()
    reused = ensure_data(options.data, options.images, options.seed, progress)
    step("data", reused)
    checkpoint = options.model.checkpoint
    training = None
    if options.fresh or not checkpoint.is_file():
        step("train", None)
        training = train.run(options.train, progress=progress, on_epoch=on_epoch, warn=warn)
        if training.interrupted or not training.best_epoch:
            warn("demo interrupted during training; run it again to retrain")
            raise KeyboardInterrupt
        training.checkpoint.replace(checkpoint)
        training.checkpoint = checkpoint
        step("train", training)
    else:
        step("train", checkpoint)
    model = open_model(options.model, options.gallery.stream.device, warn=warn)
    result = DemoResult(data_reused=reused, checkpoint=checkpoint, training=training)
    step("audit", None)
    try:
        result.audit = reused_audit(options.audit, model) or audit.run(
            model, options.audit, progress=progress, warn=warn
        )
        step("audit", result.audit)
    except DatasetError as exc:  # e.g. a model too weak to have true positives
        warn(f"audit skipped: {exc}")
    explained = recommended_model(options, result.audit, model, warn)
    result.heatmap = _heatmap_name(explained)
    step("gallery", None)
    result.gallery = gallery.run(explained, options.gallery, progress=progress)
    step("gallery", result.gallery)
    step("compare", None)
    result.compare = compare.run(explained, options.compare, progress=progress, warn=warn)
    step("compare", result.compare)
    if options.shortcuts is not None:
        step("shortcuts", None)
        result.shortcuts = shortcuts.run(model, options.shortcuts, progress=progress, warn=warn)
        step("shortcuts", result.shortcuts)
    step("infer", None)
    inputs = replace(options.infer, inputs=tuple(one_test_image_per_class(options.data)))
    result.infer = infer.run(explained, inputs, progress=progress)
    step("infer", result.infer)
    result.seconds = time.perf_counter() - started
    result.pictures = [
        path for name, path in result.gallery.files.items() if name.startswith("gallery_")
    ]
    audited = result.audit.files if result.audit else []
    result.pictures += [path for path in [*result.compare.files, *audited] if path.suffix == ".png"]
    result.report = write_demo_report(
        options.output,
        result.gallery.metrics,
        result.compare.report,
        audit=result.audit.report if result.audit else None,
        pictures=result.pictures,
        minutes=result.seconds / 60,
    )
    return result


def recommended_model(
    options: DemoOptions, audited: AuditResult | None, model: OpenedModel, warn: Warn
) -> OpenedModel:
    """The model explained with the audit's recommended heatmap (``--explain-from``), or
    ``model`` (the configured heatmap) when the audit recommends none."""
    if audited is None or not audited.report.get("recommended"):
        warn("the audit recommends no heatmap: gallery and compare use the configured one")
        return model
    chosen = replace(options.model, explain_from=options.audit.output / "audit_report.json")
    return open_model(chosen, options.gallery.stream.device, warn=warn)


def _heatmap_name(model: OpenedModel) -> str:
    explainer = model.explainer
    layers = "+".join(explainer.target_layer_names)
    return f"{explainer.method}@{layers}" if layers else explainer.method


def reused_audit(options: AuditOptions, model: OpenedModel) -> AuditResult | None:
    """The audit already written for this very checkpoint and these settings, if any."""
    import json

    from assurexray.audit.report import settings_record

    path = options.output / "audit_report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same_model = report.get("checkpoint", {}).get("sha256") == model.describe()["sha256"]
    if not same_model or report.get("settings") != settings_record(options):
        return None
    names = ("audit_report.json", "audit.csv", "audit_leaderboard.png", "audit_methods.png")
    files = [options.output / n for n in (*names, "report.html") if (options.output / n).is_file()]
    return AuditResult(report=report, shown=[], files=files, failures=report.get("errors", []))


def ensure_data(root: Path, num_images: int, seed: int, progress: Progress = no_progress) -> bool:
    """Generate the synthetic data set and its split unless they are there; True if reused."""
    from assurexray.data.datasets import SPLIT_FILE, load_dataset, stratified_split, write_split
    from assurexray.data.synthetic import dataset_matches, generate_dataset

    if dataset_matches(root, num_images=num_images, seed=seed) and (root / SPLIT_FILE).is_file():
        return True
    generate_dataset(root, num_images=num_images, seed=seed, progress=progress)
    write_split(stratified_split(load_dataset(root, split_file=None), seed=seed), root / SPLIT_FILE)
    return False


def one_test_image_per_class(root: Path) -> list[Path]:
    """One test image of each class, for the infer step."""
    from assurexray.data.datasets import load_dataset, select_split

    test = select_split(load_dataset(root), "test")
    return [Path(p) for p in test.groupby("label", sort=True).head(1)["path"]]
