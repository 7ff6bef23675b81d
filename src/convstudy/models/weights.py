"""A ResNet50 weights file is checked before Keras reads it (h5py only, no TensorFlow).

Keras' own errors for a wrong file ("file signature not found", a layer-count
mismatch deep inside loading) name neither the setting nor the file; these name
both, at parse time for a file the user gives and again in the job.
"""

from __future__ import annotations

from pathlib import Path

#: Layers that a ResNet50 without its top has (first and last convolution) in
#: Keras' HDF5 layout; ``predictions`` is the top that it must not have.
RESNET50_FIRST, RESNET50_LAST, RESNET50_TOP = "conv1_conv", "conv5_block3_3_conv", "predictions"
#: Layers with weights in ResNet50 without top: 53 convolutions, 53 batch norms.
RESNET50_NOTOP_WEIGHTED_LAYERS = 106


class WeightsError(ValueError):
    """A weights file that is missing, not HDF5, or not ResNet50 without its top."""


def _problem(path: Path) -> str | None:
    import h5py

    if not path.is_file():
        return "no such file"
    if not h5py.is_hdf5(path):
        return "not an HDF5 file"
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs:  # Keras' HDF5 layout (what keras.applications ships)
                names = {
                    n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]
                }
                if RESNET50_TOP in names:
                    return (
                        "ResNet50 weights with the top (classifier); the file without it is needed"
                    )
                if not {RESNET50_FIRST, RESNET50_LAST} <= names:
                    return "not ResNet50 weights (no conv1_conv / conv5_block3_3_conv layers)"
            elif "layers" in f:  # Keras 3's .weights.h5 layout: layers by position
                weighted = sum(
                    1 for layer in f["layers"].values() if len(layer.get("vars", {})) > 0
                )
                if weighted != RESNET50_NOTOP_WEIGHTED_LAYERS:
                    return (
                        f"{weighted} layers with weights, ResNet50 without its top has "
                        f"{RESNET50_NOTOP_WEIGHTED_LAYERS}"
                    )
            else:
                return "an HDF5 file, but not Keras weights"
    except OSError as exc:
        return f"unreadable HDF5 file ({exc})"
    return None


def check_resnet50_weights(path: str | Path, setting: str = "birds.weights") -> Path:
    """Raise WeightsError naming ``setting`` and the file unless it holds ResNet50
    weights without the top, in a layout Keras loads; return the path."""
    path = Path(path)
    problem = _problem(path)
    if problem:
        raise WeightsError(f"{setting}: {path}: {problem}")
    return path
