"""Bundled example model and inputs for `spikemesh demo` (see demo.py) and the generated "shapes" data set."""

from spikemesh.data.demo import accuracy, load_demo, predictions
from spikemesh.data.shapes import CLASS_NAMES, make_shapes

__all__ = ["CLASS_NAMES", "accuracy", "load_demo", "make_shapes", "predictions"]
