"""BTXRD's per-image metadata beyond the label: gender, age, anatomical site, angle.

``dataset.xlsx`` holds gender and age as columns and the anatomical site and shooting
angle as one-hot columns; :func:`metadata_extras` turns them into one value per image.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

#: BTXRD's one-hot anatomical-site and shooting-angle columns (``dataset.xlsx``).
SITE_COLUMNS = (
    "hand", "ulna", "radius", "humerus", "foot", "tibia", "fibula", "femur", "hip bone",
    "ankle-joint", "knee-joint", "hip-joint", "wrist-joint", "elbow-joint", "shoulder-joint",
)  # fmt: skip
ANGLE_COLUMNS = ("frontal", "lateral", "oblique")


def metadata_extras(table: pd.DataFrame) -> dict[str, list[Any]]:
    """``gender``, ``age``, ``site`` and ``angle`` from the BTXRD table, where present.

    ``site`` and ``angle`` join the names of the one-hot columns set on a row (``"femur"``,
    ``"femur+knee-joint"``); a row with none set is missing (None).
    """
    extras: dict[str, list[Any]] = {}
    columns = {str(c).strip().lower(): c for c in table.columns}
    for name in ("gender", "age"):
        if name in columns:
            values = table[columns[name]]
            extras[name] = [None if pd.isna(v) else v for v in values]
    for name, flags in (("site", SITE_COLUMNS), ("angle", ANGLE_COLUMNS)):
        present = [f for f in flags if f in columns]
        if not present:
            continue
        on = pd.DataFrame(
            {f: pd.to_numeric(table[columns[f]], errors="coerce").fillna(0) > 0 for f in present}
        )
        extras[name] = ["+".join(f for f in present if row[f]) or None for _, row in on.iterrows()]
    return extras
