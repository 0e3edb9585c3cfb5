"""PRIME: fixed random conductances with a learned mask, executed on the crossbar engine, with early stop."""

from __future__ import annotations

import numpy as np
import pytest

import spikemesh
from spikemesh.backends.crossbar.engine import early_stop_steps
from spikemesh.backends.crossbar.prime import (
    PrimeConfig,
    float_outputs,
    prime_graph,
    random_levels,
    stop_predictions,
    train_prime,
)
from spikemesh.data.shapes import make_shapes
from spikemesh.ir.reference import run_reference

CFG = PrimeConfig(hidden=64, epochs=3, seed=4)
XB = {"cell_bits": 7, "adc_bits": None}  # one 7-bit device per polarity: the random level is one conductance


@pytest.fixture(scope="module")
def trained():
    x, y = make_shapes(400, 1)
    xt, yt = make_shapes(200, 2)
    return train_prime(x, y, CFG), xt, yt


def test_levels_fixed_and_mask_keeps_half(trained) -> None:
    net, _, _ = trained
    rng = np.random.default_rng(CFG.seed)  # the same draws, made independently: training never changed them
    assert np.array_equal(net.levels1, random_levels((64, 512), CFG.sigma_levels, rng))
    assert np.array_equal(net.levels2, random_levels((4, 64), CFG.sigma_levels, rng))
    assert net.mask1.sum() == 64 * 512 // 2 and net.mask2.sum() == 4 * 64 // 2
    again = train_prime(*make_shapes(400, 1), CFG)
    assert np.array_equal(again.mask1, net.mask1) and np.array_equal(again.mask2, net.mask2)


def test_learned_mask_beats_random_mask(trained) -> None:
    net, xt, yt = trained
    g = prime_graph(net)
    acc = float(np.mean(run_reference(g, xt).output.sum(0).argmax(1) == yt))
    rng = np.random.default_rng(9)
    rand = type(net)(**{**net.__dict__, "mask1": rng.permutation(net.mask1.ravel()).reshape(net.mask1.shape),
                        "mask2": rng.permutation(net.mask2.ravel()).reshape(net.mask2.shape)})
    acc_rand = float(np.mean(run_reference(prime_graph(rand), xt).output.sum(0).argmax(1) == yt))
    assert acc > 0.6 and acc > acc_rand + 0.3, (acc, acc_rand)  # a short training run: 0.70 vs 0.27 here
    # the integer graph is the float model up to the IR's fixed-point decay
    fo = float_outputs(net, xt)
    agree = np.mean(fo.mean(0).argmax(1) == run_reference(g, xt).output.mean(0).argmax(1))
    assert agree >= 0.95


def test_crossbar_equals_reference_and_early_stop(trained) -> None:
    net, xt, yt = trained
    g = prime_graph(net)
    x = xt[:, :40]
    ref = run_reference(g, x)
    stop = {"alpha": net.alpha_int, "threshold": CFG.stop_threshold}
    res = spikemesh.simulate(g, x, engine="crossbar", config=XB, early_stop=stop)
    assert np.array_equal(res.spikes["hidden"], ref.spikes["hidden"]) and np.array_equal(res.output, ref.output)
    steps = early_stop_steps(ref.output, **stop)
    assert res.stats["steps_used"] == steps.tolist() and steps.min() < x.shape[0]
    # row drives counted to each sample's stop, from the reference raster: the 512x64 layer has 1 column tile of
    # 64 weight columns and the 64x4 layer 1; one bit slice each (7-bit cells)
    t = np.arange(x.shape[0])[:, None] < steps[None, :]
    drives = (x.reshape(x.shape[0], x.shape[1], -1).sum(2) * t).sum() + (ref.spikes["hidden"].sum(2) * t).sum()
    assert res.stats["actions"]["row_drive"] == drives
    pred = stop_predictions(res.output, steps)
    assert np.array_equal(pred, np.argmax(np.cumsum(ref.output, 0)[steps - 1, np.arange(40)], axis=1))
