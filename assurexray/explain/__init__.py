"""Explain: heatmaps by method (CAM family, forward-only Grad-CAM, attention rollout), target
layers and candidates.
"""

from __future__ import annotations

from assurexray.core.deprecation import renamed_names

# Names of the old module assurexray/explain.py (now explain.explainer); kept for one release.
__getattr__ = renamed_names(
    __name__,
    {
        "Explainer": "assurexray.explain.explainer:Explainer",
        "Explanation": "assurexray.explain.explainer:Explanation",
        "heatmaps_to_original": "assurexray.explain.explainer:heatmaps_to_original",
        "TargetSpec": "assurexray.explain.explainer:TargetSpec",
    },
)
