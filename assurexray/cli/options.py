"""The ``assurexray`` commands' option declarations, and how option errors show.

Options several commands take come first, then each command's own; a group
of options two commands share is declared once, as the parameters of one
function (:func:`image_choice_options`), and :func:`with_options` puts it on
each command.

An option whose default comes from the settings says so in ``--help``
(``[default: (from the config)]``) instead of a value a config file could change.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from assurexray import __version__
from assurexray.cli.terminal import console, fail
from assurexray.core.config import AUDIT_METHODS

try:  # newer typer ships its own copy of click
    from typer._click import Context
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - typer with the click package
    # mypy checks against the newer typer; this branch's types differ only by module.
    from click import Context  # type: ignore[assignment]
    from click import exceptions as click_errors  # type: ignore[no-redef]

FROM_CONFIG = "from the config"


def from_config(*names: str, **options: Any) -> Any:
    """A ``typer.Option`` whose default comes from the settings (so ``--help`` says so)."""
    return typer.Option(*names, show_default=FROM_CONFIG, **options)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML settings file.", show_default="configs/default.yaml if present"
    ),
]
CheckpointOption = Annotated[
    Path | None,
    from_config(
        "--checkpoint",
        help="Model checkpoint: assurexray's .pt, or weights another tool wrote (.pth, .ckpt, "
        ".safetensors, ...).",
    ),
]
MethodOption = Annotated[
    str | None,
    from_config(
        "--method",
        help="Heatmap method: gradcam, gradcam++, hirescam, xgradcam, layercam, "
        "eigencam, scorecam, rollout (ViT); Captum attributions: integrated_gradients, "
        "smoothgrad, gradient_shap, occlusion, guided_gradcam.",
    ),
]
DeviceOption = Annotated[
    str | None,
    from_config("--device", help="auto, cpu, cuda, cuda:N or mps."),
]
DataOption = Annotated[
    Path | None,
    from_config("--data", "-d", help="Data set folder or split CSV."),
]
OutputOption = Annotated[
    Path | None,
    from_config("--output", "-o", help="Output folder."),
]
BatchOption = Annotated[
    int | None,
    from_config("--batch-size", min=1, help="Images per forward pass."),
]
SplitOption = Annotated[str | None, from_config("--split", help="Split to run on.")]
AnnotationsOption = Annotated[
    Path | None,
    typer.Option(
        "--annotations", "-a", help="Folder of LabelMe JSON files.", show_default="the data set's"
    ),
]
ImagesOption = Annotated[
    Path | None, typer.Option("--images", help="Folder of images (instead of --data).")
]
AnnotatedSplitOption = Annotated[
    str | None, from_config("--split", help="Split of --data to use, or 'all'.")
]
PerClassOption = Annotated[
    int | None, from_config("--per-class", min=1, help="True positives scored per class.")
]
AllImagesOption = Annotated[
    bool, typer.Option("--all", help="Score every annotated image, right or wrong.")
]
ThresholdOption = Annotated[
    list[float] | None,
    from_config(
        "--threshold", min=0.0, max=1.0, help="Heatmap threshold for IoU; repeat for several."
    ),
]
CandidateMethodsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        help="Candidate method; repeat for several (gradcam, gradcam++, hirescam, xgradcam, "
        "layercam, eigencam, eigengradcam, gradcamelementwise, scorecam, ablationcam; Captum: "
        "integrated_gradients, smoothgrad, gradient_shap, occlusion, guided_gradcam).",
        show_default="audit.methods in the config: " + ", ".join(AUDIT_METHODS),
    ),
]
CandidateLayersOption = Annotated[
    list[str] | None,
    typer.Option(
        "--layer",
        help="Candidate target layer (dotted name, 'auto', or several joined by '+'); "
        "repeat for several.",
        show_default="the last feature map, the two larger stages before it, and all three",
    ),
]
RankByOption = Annotated[
    str | None,
    from_config(
        "--rank-by",
        help="Score that ranks the candidates: localisation (mean of hit rate and relevance "
        "mass), relevance_mass, hit_rate, mean_iou or mean_otsu_iou.",
    ),
]
CheckImagesOption = Annotated[
    int | None,
    from_config(
        "--check-images",
        min=2,
        help="Images for the sanity, faithfulness and stability checks.",
    ),
]


ArchOption = Annotated[str | None, from_config("--arch", help="timm architecture.")]
ImageSizeOption = Annotated[
    int | None, from_config("--image-size", min=16, help="Network input side in pixels.")
]
EpochsOption = Annotated[
    int | None, from_config("--epochs", min=1, help="Maximum number of training epochs.")
]


PretrainedOption = Annotated[
    str | None,
    typer.Option(
        "--pretrained",
        help="Weights to start from: 'imagenet' or a timm tag such as 'ra_in1k' (timm's "
        "weights, from the Hugging Face cache or downloaded when online), or a weights file.",
    ),
]


def _show_version(value: bool) -> None:
    if value:
        console.print(f"assurexray {__version__}")
        raise typer.Exit()


VersionOption = Annotated[
    bool,
    typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
]

# infer
InputsArgument = Annotated[
    list[Path] | None, typer.Argument(help="Image files and/or folders.", show_default=False)
]
TargetClassOption = Annotated[
    str | None,
    typer.Option(
        "--target-class",
        help="Class to explain, by name or index.",
        show_default="the predicted class",
    ),
]
RecursiveOption = Annotated[
    bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")
]
AlphaOption = Annotated[
    float | None,
    from_config("--alpha", min=0.0, max=1.0, help="Heatmap opacity in the overlay."),
]
NoImagesOption = Annotated[bool, typer.Option("--no-images", help="Write only JSON/CSV, no PNGs.")]
SaveRawOption = Annotated[
    bool,
    typer.Option("--save-raw", help="Also write <name>_heatmap.npy (float32, original frame)."),
]

# split
SplitFileOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Split CSV to write.", show_default="DATA/splits.csv"),
]
HoldoutCenterOption = Annotated[
    str | None,
    typer.Option("--holdout-center", help="Put every image of this center in the test split."),
]
SeedOption = Annotated[int | None, from_config("--seed", help="Random seed.")]

# train
CheckpointOutputOption = Annotated[
    Path | None, from_config("--output", "-o", help="Checkpoint to write.")
]
TrainBatchOption = Annotated[
    int | None, from_config("--batch-size", min=2, help="Images per training step.")
]
LearningRateOption = Annotated[
    float | None,
    from_config("--lr", min=0.0, help="Peak learning rate (AdamW, one-cycle cosine)."),
]

# gallery
ExamplesOption = Annotated[
    int | None, from_config("--k", min=1, max=5, help="Examples per row (1-5).")
]
FnTrueClassOption = Annotated[
    bool,
    typer.Option(
        "--fn-true-class", help="Add a row with the true class's heatmap for false negatives."
    ),
]

# demo
DemoDataOption = Annotated[
    Path | None, from_config("--data", help="Where the synthetic data set goes.")
]
DemoImagesOption = Annotated[
    int | None, from_config("--images", min=12, help="Synthetic images to generate.")
]
FreshOption = Annotated[bool, typer.Option("--fresh", help="Retrain even if a checkpoint exists.")]


HeadFusionOption = Annotated[
    str | None,
    from_config(
        "--head-fusion", help="Rollout only: how attention heads are fused: mean, max or min."
    ),
]
DiscardRatioOption = Annotated[
    float | None,
    from_config(
        "--discard-ratio",
        help="Rollout only: share of each block's lowest attentions dropped, in [0, 1).",
    ),
]
ExplainFromOption = Annotated[
    Path | None,
    typer.Option(
        "--explain-from",
        help="Use the heatmap (method and layers) an audit_report.json recommends for this "
        "checkpoint, instead of --method and the config's explain: lines.",
        show_default=False,
    ),
]


def model_options(
    checkpoint: CheckpointOption = None,
    method: MethodOption = None,
    explain_from: ExplainFromOption = None,
    head_fusion: HeadFusionOption = None,
    discard_ratio: DiscardRatioOption = None,
) -> None:
    """The options that open the checkpoint and choose its heatmap (``infer``, ``gallery``,
    ``compare``); their names are those
    :meth:`~assurexray.engine.model_opening.ModelOptions.from_settings` takes."""


def image_choice_options(
    annotations: AnnotationsOption = None,
    images: ImagesOption = None,
    data: DataOption = None,
    split: AnnotatedSplitOption = None,
    per_class: PerClassOption = None,
    all_images: AllImagesOption = False,
    thresholds: ThresholdOption = None,
) -> None:
    """The options that choose annotated images, shared by ``compare`` and ``audit``.

    Their names are those
    :meth:`~assurexray.localisation.compare.CompareOptions.from_settings` takes.
    """


def with_options(
    group: Callable[..., None], into: str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declare ``group``'s options on a command, which receives their values as one dict.

    The command's parameter ``into`` (a ``dict[str, Any]``) is replaced, in the
    command line, by ``group``'s parameters: commands that share options declare
    them once.
    """
    shared = inspect.signature(group, eval_str=True).parameters

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def run(**values: Any) -> None:
            values[into] = {name: values.pop(name) for name in shared}
            command(**values)

        params: list[inspect.Parameter] = []
        for param in own.parameters.values():
            params.extend(shared.values() if param.name == into else [param])
        run.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        return run

    return decorate


class OneLineErrors(TyperGroup):
    """Show a bad option or value as the tool's one red line (exit 2), not click's box."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except getattr(click_errors, "NoArgsIsHelpError", ()):
            raise
        except click_errors.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else ctx.command_path
            fail(f"{exc.format_message().rstrip('.')} (see '{command} --help')")


# --- shortcuts ---
