"""Audit job: which heatmap (method and layer) deserves belief."""

from __future__ import annotations

from assurexray.core.deprecation import renamed_names

# Names of the old module assurexray/audit.py; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "AuditOptions": "assurexray.audit.options:AuditOptions",
        "OWN_OVERRIDES": "assurexray.audit.options:OWN_OVERRIDES",
        "run": "assurexray.audit.job:run",
    },
)
