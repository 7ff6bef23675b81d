"""convstudy: the logic behind the convolutional-network study workflow.

Importing the package is cheap (no TensorFlow); modules that need TensorFlow or
Keras import it themselves.
"""

__version__ = "0.1.0"
