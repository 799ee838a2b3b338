"""Imaging: reading radiographs (JPEG/PNG/TIFF/BMP, DICOM), their headers, and preprocessing for
the network.
"""
