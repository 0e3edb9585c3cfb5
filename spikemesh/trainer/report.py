"""Writing a training run to a build directory: report.json, the trained model, the loss curve."""

from __future__ import annotations

from pathlib import Path

from spikemesh.fileio import atomic_write_json, atomic_write_with
from spikemesh.trainer.loop import TrainResult


def save_training(result: TrainResult, out: str | Path) -> Path:
    """Write ``report.json`` (history, cost, GPU ratio), ``model.smg`` (trained graph) and ``loss.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", {"training": result.report})
    result.graph.save(out / "model.smg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ep = [h["epoch"] for h in result.history]
    ax.plot(ep, [h["loss"] for h in result.history], marker="o", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax2 = ax.twinx()
    ax2.plot(ep, [h["train_acc"] for h in result.history], color="tab:orange", marker="s", label="train acc")
    ax2.set_ylabel("train accuracy")
    fig.tight_layout()
    atomic_write_with(out / "loss.png", lambda p: fig.savefig(p, format="png", metadata={"Software": None}))
    plt.close(fig)
    return out
