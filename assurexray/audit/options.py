"""The ``audit`` job's options: :class:`AuditOptions` (candidates, checks, image choice, output)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assurexray.audit.summary import RANK_SCORES
from assurexray.core.config import AUDIT_METHODS
from assurexray.core.errors import ConfigError
from assurexray.engine.jobs import Overrides
from assurexray.evaluation.adversarial import ATTACKS
from assurexray.evaluation.faithfulness import DEFAULT_PERCENTILES
from assurexray.evaluation.sanity import DEFAULT_DEPTH, DEFAULT_THRESHOLD
from assurexray.localisation.image_choice import OVERRIDES as CHOICE_OVERRIDES
from assurexray.localisation.image_choice import ImageChoice

if TYPE_CHECKING:
    from assurexray.core.config import Settings
    from assurexray.engine.jobs import StreamOptions

OWN_OVERRIDES = "methods layers rank_by check_images output"  # the others choose images


@dataclass(frozen=True)
class AuditOptions:
    """What the audit compares and how thoroughly it checks.

    ``choice`` holds the image choice (data set or folders, split, per class,
    thresholds, annotation mode, streaming) as the ``compare`` job takes it;
    ``output`` is where the audit's files go, and nothing is written elsewhere.
    """

    output: Path
    choice: ImageChoice
    methods: tuple[str, ...] = AUDIT_METHODS
    layers: tuple[str, ...] = ()
    rank_by: str = "localisation"
    check_images: int = 12
    sanity_depth: int = DEFAULT_DEPTH
    sanity_threshold: float = DEFAULT_THRESHOLD
    road_percentiles: tuple[int, ...] = DEFAULT_PERCENTILES
    adversarial_attacks: tuple[str, ...] = ATTACKS
    adversarial_epsilon: float = 2.0  # grey levels (of 255) before normalisation
    adversarial_steps: int = 5
    adversarial_step_size: float = 1.0  # grey levels
    shown_images: int = 4
    seed: int = 0
    colormap: str = "jet"

    @property
    def stream(self) -> StreamOptions:
        """How images stream through the model (the image choice's own)."""
        return self.choice.stream

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> AuditOptions:
        """Options from the config, changed by ``overrides`` (one left at None keeps it).

        Overrides: ``methods``, ``layers``, ``rank_by``, ``check_images``,
        ``output``, and the image choice of :meth:`ImageChoice.from_settings`
        (``data``, ``images``, ``annotations``, ``per_class``, ``all_images``, ...).

        Raises:
            ConfigError: an unknown ranking score.
        """
        given = Overrides(cls, overrides, f"{OWN_OVERRIDES} {CHOICE_OVERRIDES}")
        configured = settings.audit
        chosen_rank = given.pick("rank_by", configured.rank_by)
        if chosen_rank not in RANK_SCORES:
            raise ConfigError(
                f"--rank-by must be one of {', '.join(RANK_SCORES)}, not {chosen_rank!r}"
            )
        choice = {k: v for k, v in given.items() if k not in OWN_OVERRIDES.split()}
        return cls(
            output=Path(given.pick("output", configured.output)),
            choice=ImageChoice.from_settings(
                settings, default_per_class=configured.per_class, **choice
            ),
            methods=tuple(given.get("methods") or configured.methods),
            layers=tuple(given.get("layers") or configured.layers),
            rank_by=chosen_rank,
            check_images=given.pick("check_images", configured.check_images),
            sanity_depth=configured.sanity_depth,
            sanity_threshold=configured.sanity_threshold,
            road_percentiles=tuple(configured.road_percentiles),
            adversarial_attacks=tuple(configured.adversarial_attacks),
            adversarial_epsilon=configured.adversarial_epsilon,
            adversarial_steps=configured.adversarial_steps,
            adversarial_step_size=configured.adversarial_step_size,
            shown_images=configured.shown_images,
            seed=settings.seed,
            colormap=settings.explain.colormap,
        )
