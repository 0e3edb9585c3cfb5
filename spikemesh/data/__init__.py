"""The `spikemesh demo` data and model (digits.py: scikit-learn's digits), the bundled "shapes" model and inputs the
tests use (demo.py) and the generated "shapes" data set."""

from spikemesh.data.demo import accuracy, load_demo, predictions
from spikemesh.data.shapes import CLASS_NAMES, make_shapes

__all__ = ["CLASS_NAMES", "accuracy", "load_demo", "make_shapes", "predictions"]
