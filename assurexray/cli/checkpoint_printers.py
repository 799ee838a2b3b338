"""What ``assurexray inspect`` and ``assurexray convert`` print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from assurexray.cli.terminal import console, text

if TYPE_CHECKING:
    from assurexray.models.convert import Inspection

_FACTS = (
    ("arch", "architecture"),
    ("num_classes", "classes"),
    ("class_names", "class names"),
    ("image_size", "image size"),
    ("resize_mode", "resize"),
    ("interpolation", "interpolation"),
    ("mean", "mean"),
    ("std", "std"),
)


def print_inspection(found: Inspection) -> None:
    """The file's entries, each fact with its source (assumed ones marked), and the notes."""
    checkpoint = found.checkpoint
    kind = "assurexray checkpoint" if checkpoint.native else "foreign checkpoint"
    console.print(f"[bold]{text(found.path)}[/bold]  ({kind}, {found.size_bytes:,} bytes)")
    console.print(f"sha256 {found.sha256}")
    if checkpoint.entries:
        entries = Table(title="What the file holds", title_justify="left")
        entries.add_column("entry")
        entries.add_column("holds")
        for key, held in checkpoint.entries.items():
            entries.add_row(text(key), text(held))
        console.print(entries)
    pre = checkpoint.preprocess
    values = {
        "arch": checkpoint.arch,
        "num_classes": str(checkpoint.num_classes),
        "class_names": ", ".join(checkpoint.class_names),
        "image_size": str(pre.image_size),
        "resize_mode": pre.resize_mode,
        "interpolation": pre.interpolation,
        "mean": ", ".join(f"{v:.4g}" for v in pre.mean),
        "std": ", ".join(f"{v:.4g}" for v in pre.std),
    }
    facts = Table(title="Facts, and where each came from", title_justify="left")
    for column in ("fact", "value", "from"):
        facts.add_column(column)
    facts.add_row("weights", f"{checkpoint.num_parameters:,} parameters",
                  text(checkpoint.sources.get("weights", "")))  # fmt: skip
    for key, label in _FACTS:
        facts.add_row(label, text(values[key]), text(checkpoint.sources.get(key, "the file")))
    console.print(facts)
    if checkpoint.target_layer:
        console.print(f"Grad-CAM target layer: {text(checkpoint.target_layer)}")
    for note in checkpoint.warnings:  # the assumptions among them, marked in the table too
        console.print(f"[yellow]note:[/yellow] {text(note)}", soft_wrap=True)


def print_converted(found: Inspection, written: Path) -> None:
    """The facts recorded in the new checkpoint."""
    checkpoint = found.checkpoint
    pre = checkpoint.preprocess
    console.print(
        f"wrote {text(written)}: {text(checkpoint.arch)}, "
        f"{text(', '.join(checkpoint.class_names))}; {pre.image_size} px {pre.resize_mode}, "
        f"{pre.interpolation} interpolation (converted from {text(found.path)})"
    )
    if checkpoint.assumed:
        assumed = text("; ".join(checkpoint.assumed))
        console.print(f"[yellow]recorded as assumed:[/yellow] {assumed}")
