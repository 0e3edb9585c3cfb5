"""The bundled demo: a small trained, integer (8-bit weights, 16-bit state) spiking classifier and its inputs.

``demo_model.smg`` is an IR graph (``Graph.load``) trained by ``scripts/train_demo.py`` on the generated
"shapes" event data set (``spikemesh.data.shapes``); its metadata holds the training recipe and the accuracies
reached (``metadata["accuracy"]``). ``demo_inputs.npz`` holds 64 held-out samples: ``inputs`` uint8 spikes
``[T=20, B=64, 2, 16, 16]`` (channel 0 = ON, 1 = OFF events) and ``labels`` int64 ``[64]``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from spikemesh.errors import FileFormatError, SimulationError
from spikemesh.ir import Graph, SimResult

DEMO_MODEL = "demo_model.smg"
DEMO_INPUTS = "demo_inputs.npz"
DATA_DIR = Path(__file__).resolve().parent


def demo_paths() -> tuple[Path, Path]:
    """(model file, inputs file) of the bundled demo."""
    return DATA_DIR / DEMO_MODEL, DATA_DIR / DEMO_INPUTS


def load_demo_inputs(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs uint8 ``[T, B, 2, 16, 16]``, labels int64 ``[B]``) from the bundled (or given) npz."""
    p = demo_paths()[1] if path is None else Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            inputs, labels = z["inputs"], z["labels"]
    except FileNotFoundError:
        raise FileFormatError("demo inputs file not found", node=str(p),
                              hint="re-create it with scripts/train_demo.py") from None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise FileFormatError(f"corrupt demo inputs file ({type(e).__name__})", node=str(p),
                              needed="npz with 'inputs' and 'labels'",
                              hint="re-create it with scripts/train_demo.py") from None
    if inputs.ndim < 3 or labels.shape != (inputs.shape[1],):
        raise FileFormatError("demo inputs and labels disagree", node=str(p),
                              needed=f"labels [{inputs.shape[1] if inputs.ndim > 1 else '?'}]",
                              available=list(labels.shape))
    return inputs, labels.astype(np.int64)


def load_demo() -> tuple[Graph, np.ndarray, np.ndarray]:
    """The bundled trained model, its inputs ``[T, B, 2, 16, 16]`` (uint8 spikes) and labels ``[B]``."""
    model, inputs = demo_paths()
    graph = Graph.load(model)
    x, y = load_demo_inputs(inputs)
    return graph, x, y


def predictions(result: SimResult | np.ndarray) -> np.ndarray:
    """Class per sample: argmax over output neurons of the output node summed over time (spike counts), ties to
    the lowest index. ``result`` is a SimResult (its first output node) or an array ``[T, B, n_classes]``."""
    out = result.output if isinstance(result, SimResult) else np.asarray(result)
    if out is None:
        raise SimulationError("the result has no output node", hint="add an Output to the graph")
    if out.ndim != 3:
        raise SimulationError("spike-count readout needs output [T, B, n_classes]", node="output",
                              needed="3 dimensions", available=list(out.shape))
    counts = (out.astype(np.int64) if out.dtype == bool else out).sum(axis=0)
    return np.argmax(counts, axis=1)


def silent_samples(result: SimResult | np.ndarray) -> int:
    """Samples whose output node never fired (every count zero): their prediction is the tie rule's class 0,
    not a decision of the model, so an accuracy over them says nothing."""
    out = result.output if isinstance(result, SimResult) else np.asarray(result)
    if out is None or out.ndim != 3:
        return 0
    return int(np.sum(~np.any(out != 0, axis=(0, 2))))


def accuracy(result: SimResult | np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose spike-count prediction (``predictions``) equals ``labels [B]``."""
    pred = predictions(result)
    labels = np.asarray(labels)
    if labels.shape != pred.shape:
        raise SimulationError("labels do not match the batch", node="labels", needed=list(pred.shape),
                              available=list(labels.shape))
    return float(np.mean(pred == labels))
