"""Metrics shared by the systems: image quality, Fréchet distance, feature networks."""
