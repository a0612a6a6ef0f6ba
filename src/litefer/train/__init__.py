"""Training half (needs torch): configs, augmentation, the training loop."""
