"""Model builders: the study's CNNs for CIFAR and ResNet50 for the birds."""

import math
import zipfile
from pathlib import Path


def load_model(path: str | Path):
    """The Keras model saved at ``path``. A truncated or foreign file (a full disk, a
    copy cut short) is one error naming the file and the fix, not Keras' "File not
    found" for a file that exists."""
    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        broken = f"{type(exc).__name__}: {exc}"
    if broken is not None:
        raise ValueError(
            f"{path}: not a readable Keras model (truncated or damaged: {broken}); "
            "delete it and run the workflow again to remake it"
        )
    return keras.models.load_model(path)


def trainable_parameters(model) -> int:
    """Scalars the optimizer updates (on every Keras backend)."""
    return sum(math.prod(w.shape) for w in model.trainable_weights)
