"""Imaging: reading radiographs (JPEG/PNG/TIFF/BMP, DICOM), their headers, and preprocessing for
the network.
"""

from __future__ import annotations

from assurexray.core.deprecation import renamed_names

# Names of the old module assurexray/imaging.py; kept for one minor release.
__getattr__ = renamed_names(
    __name__,
    {
        "DEFAULT_MAX_PIXELS": "assurexray.imaging.reading:DEFAULT_MAX_PIXELS",
        "Radiograph": "assurexray.imaging.radiograph:Radiograph",
        "is_image_file": "assurexray.imaging.reading:is_image_file",
        "read_image": "assurexray.imaging.reading:read_image",
        "to_unit": "assurexray.imaging.radiograph:to_unit",
    },
)
