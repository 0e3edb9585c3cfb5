"""Design-space sweeps: the product of axes (models, targets and target-field overrides, compile options,
engines, input data) compiled and simulated point by point on one machine (a process pool) or a Ray cluster,
resumable, into ``results.csv`` / ``results.parquet`` and ``sweep.html``. See README (Design-space sweeps)."""

from spikemesh.sweep.run import SweepResult, sweep
from spikemesh.sweep.spec import SweepError, load_sweep

__all__ = ["SweepError", "SweepResult", "load_sweep", "sweep"]
