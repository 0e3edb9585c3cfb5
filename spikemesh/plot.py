"""Plots for notebooks and scripts: ``raster``, ``trace``, ``energy``, ``latency``, ``placement`` (each returns a
``matplotlib.figure.Figure``; see ``spikemesh.report.plots``).

    import spikemesh
    result = spikemesh.simulate(program, x, engine="cycle", record=["conv1"])
    spikemesh.plot.raster(result, "conv1")
    spikemesh.plot.trace(result, "conv1")
    spikemesh.plot.energy(result, by="layer")      # or "action", "core"
    spikemesh.plot.placement(program, result)
"""

from spikemesh.report.plots import energy, energy_breakdown, latency, placement, raster, trace

__all__ = ["energy", "energy_breakdown", "latency", "placement", "raster", "trace"]
