"""Training the bundled demo network with ``spikemesh.train`` against the same training in PyTorch
(scripts/train_demo.py ``compare``: the recipe's init, data, loss, Adam + cosine schedule, fast-sigmoid surrogate;
the torch side is spikemesh/data/demo_torch.py's surrogate forward + autograd + torch.optim.Adam, with the same
mini-batch order).

The default test runs four mini-batches and checks that both trainings stay together step for step (losses and
weights equal to float32 rounding), which exercises loss, BPTT, the optimiser, the schedule and the batch order
end to end. The accuracy acceptance (full recipe: 2000 samples, 12 epochs, within 1 point) takes minutes and is
run by ``python scripts/train_demo.py --compare`` (slow-marked here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _recipe():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("train_demo", ROOT / "scripts" / "train_demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_training_follows_torch_step_for_step() -> None:
    out = _recipe().compare(n_train=40, n_test=40, epochs=2, batch=20, lr=3e-3, verbose=False)
    for a, b in zip(out["history_spikemesh"], out["history_torch"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["train_acc"] == b["train_acc"]
    assert max(out["max_rel_weight_diff"].values()) < 1e-5, out["max_rel_weight_diff"]
    assert out["acc_spikemesh"] == out["acc_torch"] == out["acc_spikemesh_weights_torch_forward"]


@pytest.mark.slow
def test_demo_training_full_recipe_matches_torch() -> None:
    td = _recipe()
    out = td.compare(td.N_TRAIN, td.N_TEST, epochs=12, batch=50, lr=3e-3, verbose=True)
    assert out["acc_torch"] > 0.9
    assert abs(out["acc_spikemesh"] - out["acc_torch"]) <= 0.01, out
