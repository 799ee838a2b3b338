"""Demo job: the whole chain on a synthetic data set."""
