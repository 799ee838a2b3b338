"""Annotations: LabelMe files, their shapes, and the tumour masks drawn from them."""

from __future__ import annotations

from assurexray.core.deprecation import renamed_names

# Names of the old module assurexray/annotations.py; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "Shape": "assurexray.annotations.records:Shape",
        "Annotation": "assurexray.annotations.records:Annotation",
        "load_labelme": "assurexray.annotations.labelme:load_labelme",
        "find_annotation": "assurexray.annotations.labelme:find_annotation",
        "annotation_files": "assurexray.annotations.labelme:annotation_files",
    },
)
