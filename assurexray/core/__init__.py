"""Core: errors, names, settings, callback types, text formatting and atomic file writing.

The bottom layer: imports nothing else from the package."""
