"""Localisation job: ``compare`` heatmaps against annotations, and the image choice it shares with
``audit``.
"""
