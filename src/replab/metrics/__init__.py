"""Pure metric functions shared by the systems (no jobs, no ``replab.core``): Fréchet distance, image
quality, precision/recall, retrieval, correlations, and the FD-fmnist feature network."""
