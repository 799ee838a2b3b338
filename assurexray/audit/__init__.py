"""Audit job: which heatmap (method and layer) deserves belief."""
