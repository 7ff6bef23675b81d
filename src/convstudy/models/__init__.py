"""Model builders: the study's CNNs for CIFAR and ResNet50 for the birds."""

import math


def trainable_parameters(model) -> int:
    """Scalars the optimizer updates (on every Keras backend)."""
    return sum(math.prod(w.shape) for w in model.trainable_weights)
