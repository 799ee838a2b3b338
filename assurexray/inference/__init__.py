"""Inference jobs: ``infer`` (images or folders) and ``gallery`` (TP/FP/FN grids over a split)."""
