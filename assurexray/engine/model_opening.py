"""Opening a model: which checkpoint, the facts it lacks, its heatmap; ``open_model``.

Every job that explains gets its model here (:class:`OpenedModel`); the command
line declares the options once (``cli/options.py``, ``cli/fact_options.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.core.callbacks import Warn, no_warn
from assurexray.core.errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    ExplainError,
    refuse_special,
    why_missing,
)
from assurexray.core.files import file_sha256
from assurexray.engine.jobs import Overrides

if TYPE_CHECKING:
    import pandas as pd

    from assurexray.core.config import Settings
    from assurexray.explain.attributions import AttributionOptions
    from assurexray.explain.explainer import Explainer
    from assurexray.imaging.preprocess import PreprocessConfig
    from assurexray.models.checkpoint import Checkpoint
    from assurexray.models.load_options import LoadOptions

MODEL_FACTS = "arch image_size resize_mode interpolation mean std weights_key"
"""The overrides that give a checkpoint's facts (``--arch``, ``--image-size``, ...)."""
EXPLAIN_CHOICES = "checkpoint method head_fusion discard_ratio explain_from"
"""The overrides that choose the checkpoint and its heatmap."""


@dataclass(frozen=True)
class ModelOptions:
    """Which checkpoint to open, what to assume for facts it lacks, and how to explain it."""

    checkpoint: Path
    method: str = "gradcam"
    target_layers: str = "auto"
    aggregation: str = "mean"
    fast_path: bool = True
    head_fusion: str = "mean"
    discard_ratio: float = 0.9
    explain_from: Path | None = None
    attribution: AttributionOptions | None = None
    load: LoadOptions | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ModelOptions:
        """Options from the settings, changed by ``overrides`` (None keeps the config's value).

        Overrides: ``checkpoint``, ``method``, ``head_fusion``, ``discard_ratio``,
        ``explain_from`` (an audit report whose recommended heatmap replaces the
        method and layers), and the checkpoint facts ``MODEL_FACTS``. Facts given
        here win over the file (with a note when it says otherwise); the settings'
        ``model:`` section fills only what neither says.

        Raises:
            ConfigError: both ``method`` and ``explain_from`` given.
        """
        from assurexray.explain.attributions import AttributionOptions
        from assurexray.imaging.preprocess import PreprocessConfig
        from assurexray.models.load_options import LoadOptions

        given = Overrides(cls, overrides, f"{EXPLAIN_CHOICES} {MODEL_FACTS}")
        explain_from = given.get("explain_from")
        if explain_from is not None and given.get("method") is not None:
            raise ConfigError("--explain-from and --method both choose the heatmap: give one")
        facts = {k: v for k, v in given.items() if k in MODEL_FACTS.split()}
        model = settings.model
        load = LoadOptions(
            **{k: v for k, v in facts.items() if v is not None and k != "weights_key"},
            weights_key=given.pick("weights_key", model.weights_key) or None,
            fallback_arch=model.arch,
            fallback_class_names=tuple(settings.class_names),
            fallback_preprocess=PreprocessConfig(
                image_size=model.image_size,
                resize_mode=model.resize_mode,
                interpolation=model.interpolation,
                mean=tuple(model.mean),
                std=tuple(model.std),
                clahe=model.clahe,
            ),
        )
        rollout, captum = settings.explain.rollout, settings.explain.attributions
        return cls(
            checkpoint=Path(given.pick("checkpoint", settings.checkpoint)),
            method=given.pick("method", settings.explain.method),
            target_layers=settings.explain.target_layer,
            aggregation=settings.explain.aggregation,
            fast_path=settings.explain.fast_path,
            head_fusion=given.pick("head_fusion", rollout.head_fusion),
            discard_ratio=given.pick("discard_ratio", rollout.discard_ratio),
            explain_from=None if explain_from is None else Path(explain_from),
            attribution=AttributionOptions(
                n_steps=captum.n_steps,
                n_samples=captum.n_samples,
                noise=captum.noise,
                window=captum.window,
                stride=captum.stride,
                internal_batch_size=captum.internal_batch_size,
                seed=settings.seed,
            ),
            load=load,
        )


@dataclass(frozen=True)
class OpenedModel:
    """A loaded checkpoint and the explainer set up for it."""

    checkpoint: Checkpoint
    explainer: Explainer
    path: Path

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.checkpoint.class_names)

    @property
    def preprocess(self) -> PreprocessConfig:
        return self.checkpoint.preprocess

    def describe(self) -> dict[str, str]:
        """Path, SHA-256 and architecture, as recorded in result files."""
        return {
            "path": str(self.path),
            "sha256": file_sha256(self.path),
            "arch": self.checkpoint.arch,
        }


def open_model(options: ModelOptions, device: str, *, warn: Warn = no_warn) -> OpenedModel:
    """Load the checkpoint (safely) and set up its explainer; every job uses this.

    Facts the checkpoint lacks are given by ``options.load`` (the command line,
    then the settings), each assumption with a warning.

    Raises:
        CheckpointError: the file is missing, corrupt or does not fit its architecture.
        ExplainError: the method or the target layers are unknown.
    """
    import warnings

    from assurexray.explain.explainer import Explainer
    from assurexray.models.checkpoint import load_checkpoint

    path = options.checkpoint
    if not path.exists():
        raise CheckpointError(
            f"{path}: checkpoint file {why_missing(path)} (pass --checkpoint, or run "
            "'assurexray demo' to train one)"
        )
    refuse_special(path, CheckpointError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checkpoint = load_checkpoint(path, device=device, options=options.load)
    for note in checkpoint.warnings:
        warn(note)
    method, layers = options.method, options.target_layers
    if options.explain_from is not None:
        from assurexray.core.files import file_sha256
        from assurexray.explain.candidates import recommended_candidate

        chosen = recommended_candidate(options.explain_from, file_sha256(path))
        method, layers = chosen.method, ",".join(chosen.layers) or "auto"
    if layers == "auto" and checkpoint.target_layer:
        layers = checkpoint.target_layer  # the layer recorded when the checkpoint was saved
    spec = "auto" if layers == "auto" else [s.strip() for s in layers.split(",") if s.strip()]
    try:
        explainer = Explainer(
            checkpoint.model,
            method=method,
            target_layers=spec,
            aggregation=options.aggregation,
            fast_path=options.fast_path,
            class_names=checkpoint.class_names,
            device=device,
            head_fusion=options.head_fusion,
            discard_ratio=options.discard_ratio,
            attribution=options.attribution,
        )
    except ExplainError as exc:
        if (
            layers == options.target_layers
            or options.explain_from is not None
            or not _layers_at_fault(method)
        ):
            raise
        raise ExplainError(f"{path}: recorded target_layer {layers!r}: {exc}") from None
    return OpenedModel(checkpoint, explainer, path)


def _layers_at_fault(method: str) -> bool:
    """Whether an Explainer error can be the recorded layers' (the method itself is known)."""
    from assurexray.explain.cam_methods import canonical_method

    try:
        canonical_method(method)
    except ExplainError:
        return False
    return True


def check_classes(model: OpenedModel, records: pd.DataFrame) -> None:
    """Raise if the records carry labels the checkpoint does not know."""
    unknown = sorted(set(records["label"].dropna()) - set(model.class_names))
    if unknown:
        raise DatasetError(
            f"the data set has classes {unknown} that the checkpoint {model.path} does not "
            f"know (it has {', '.join(model.class_names)})"
        )
