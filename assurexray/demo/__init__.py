"""Demo job: the whole chain on a synthetic data set."""

from __future__ import annotations

from assurexray.core.deprecation import renamed_names

# Names of the old module assurexray/demo.py; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "DemoOptions": "assurexray.demo.job:DemoOptions",
        "DemoResult": "assurexray.demo.job:DemoResult",
        "StepHook": "assurexray.demo.job:StepHook",
        "run": "assurexray.demo.job:run",
        "reused_audit": "assurexray.demo.job:reused_audit",
        "ensure_data": "assurexray.demo.job:ensure_data",
        "one_test_image_per_class": "assurexray.demo.job:one_test_image_per_class",
    },
)
