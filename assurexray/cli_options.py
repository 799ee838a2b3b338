"""Option declarations shared by several ``assurexray`` commands, and how option errors show.

An option whose default comes from the settings says so in ``--help``
(``[default: (from the config)]``) instead of a value a config file could change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from assurexray.terminal import fail

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
    from_config("--checkpoint", help="Model checkpoint (.pt)."),
]
MethodOption = Annotated[
    str | None,
    from_config(
        "--method",
        help="Heatmap method: gradcam, gradcam++, hirescam, xgradcam, layercam, "
        "eigencam, scorecam, rollout (ViT).",
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
    from_config(
        "--method",
        help="Candidate method; repeat for several (gradcam, gradcam++, hirescam, xgradcam, "
        "layercam, eigencam, eigengradcam, gradcamelementwise, scorecam, ablationcam).",
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
