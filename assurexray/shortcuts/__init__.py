"""Shortcut analysis."""
