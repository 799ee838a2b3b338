"""Data: the data-set index (BTXRD layout, class folders, split CSVs), splits, example selection
and the synthetic demo data set.
"""
