"""Writing a training run to a build directory: program.json (the build marker), report.json, the trained model,
the loss curve. The directory is written aside and swapped into place like a compile build (spikemesh.fileio)."""

from __future__ import annotations

import shutil
from pathlib import Path

from spikemesh.errors import OutputError
from spikemesh.fileio import atomic_write_json, atomic_write_with, check_output_dir, new_temp_dir, replace_dir
from spikemesh.trainer.loop import TrainResult

FORMAT = "spikemesh-training"
FORMAT_VERSION = 1


def save_training(result: TrainResult, out: str | Path, force: bool = False) -> Path:
    """Write ``program.json`` (``{"format": "spikemesh-training"}``), ``report.json`` (history, cost, GPU
    ratio), ``model.smg`` (trained graph) and ``loss.png`` into ``out``: a new path, an empty directory or a
    spikemesh build, replaced as a whole (anything else needs ``force=True``)."""
    out = Path(out)
    check_output_dir(out, force, flag="force=True")
    tmp: Path | None = None
    try:
        tmp = new_temp_dir(out)
        _write(result, tmp)
        replace_dir(tmp, out)
    except OSError as e:
        raise OutputError(f"cannot write the training build ({e.strerror or type(e).__name__})", node=str(out),
                          hint="check that the parent directory exists and is writable") from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write(result: TrainResult, out: Path) -> None:
    atomic_write_json(out / "program.json", {"format": FORMAT, "format_version": FORMAT_VERSION,
                                             "files": ["report.json", "model.smg", "loss.png"]})
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
