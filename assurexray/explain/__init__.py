"""Explain: heatmaps by method (CAM family, forward-only Grad-CAM, attention rollout), target
layers and candidates.
"""
