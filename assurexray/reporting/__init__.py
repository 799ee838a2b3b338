"""Reporting: pictures (overlays, grids), report.html and its pages, the headless browser."""
