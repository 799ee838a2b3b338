"""Models: timm classifiers, checkpoints and starting weights."""
