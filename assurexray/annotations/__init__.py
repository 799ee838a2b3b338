"""Annotations: LabelMe files, their shapes, and the tumour masks drawn from them."""
