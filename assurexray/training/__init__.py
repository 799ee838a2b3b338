"""Training job: ``train`` with its epochs, data loading and augmentation."""
