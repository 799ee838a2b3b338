"""Evaluation: localisation and classification metrics, statistics, baselines, sanity, faithfulness
and stability checks.
"""
