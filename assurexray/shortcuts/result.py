"""The ``shortcuts`` job's result: :class:`ShortcutsResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from assurexray.shortcuts.image_analysis import ImageFindings


@dataclass
class ShortcutsResult:
    """What the job found: the report (as written), the per-image table, files, failures."""

    report: dict[str, Any]
    table: pd.DataFrame
    findings: list[ImageFindings] = field(repr=False)
    failures: list[dict[str, str]]
    files: list[Path]
    interrupted: bool = False
    output: Path = Path()

    @property
    def flags(self) -> list[str]:
        return list(self.report.get("flags", []))

    @property
    def verdict(self) -> list[str]:
        return list(self.report.get("verdict", []))
