"""Target features are enforced at compile time: a neuron kind, reset, refractory period, delay or recurrence the
target does not list is an error naming the population and the missing feature."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.cli import main
from spikemesh.errors import TargetError
from spikemesh.ir import IF, LIF, Delay, Dense, Graph, Input, Output, Population, Projection


def _net(neuron, recurrent_delay: int | None = None, forward_delay: int = 0) -> Graph:
    rng = np.random.default_rng(0)
    ops = (Dense(rng.integers(-2, 3, (4, 3)).astype(float)),) + ((Delay(forward_delay),) if forward_delay else ())
    projs = [Projection("fc", "in", "h", ops)]
    if recurrent_delay is not None:
        projs.append(Projection("rec", "h", "h", (Dense(np.eye(4)), Delay(recurrent_delay))))
    return Graph((Input("in", (3,)),), (Population("h", (4,), neuron),), tuple(projs), (Output("o", "h"),))


def _target(*features: str):
    return replace(spikemesh.target("tianjic"), name="if-only", features=frozenset(features))


def test_lif_subtract_on_an_if_reset_zero_target_is_a_compile_error():
    g = _net(LIF(0.75, reset="subtract"))
    with pytest.raises(TargetError, match=r"h: target if-only does not support LIF .*needed LIF, available IF, "
                                          r"reset_zero.*hint"):
        spikemesh.compile(g, _target("IF", "reset_zero"))
    with pytest.raises(TargetError, match=r"h: .*does not support reset_subtract"):
        spikemesh.compile(g, _target("IF", "LIF", "reset_zero"))
    spikemesh.compile(g, _target("LIF", "reset_subtract"))  # listed: compiles


def test_refractory_delay_and_recurrence_are_required():
    from spikemesh.backends.features import required_features

    feats = {f for f, _, _ in required_features(_net(IF(refractory=2), recurrent_delay=1))}
    assert feats == {"IF", "reset_subtract", "refractory", "recurrence"}  # a 1-step delay on a cycle: the step
    feats = {f for f, _, _ in required_features(_net(IF(), recurrent_delay=3, forward_delay=1))}
    assert {"recurrence", "delay"} <= feats
    with pytest.raises(TargetError, match=r"h: .*does not support recurrence \(needed for recurrent projection rec"):
        spikemesh.compile(_net(IF(), recurrent_delay=1), _target("IF", "reset_zero", "reset_subtract"))
    with pytest.raises(TargetError, match=r"h: .*does not support delay \(needed for projection fc with a delay of 2"):
        spikemesh.compile(_net(IF(), forward_delay=2), _target("IF", "reset_zero", "reset_subtract"))


def test_cli_compile_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    _net(LIF(0.5, reset="subtract")).save(tmp_path / "m.smg")
    (tmp_path / "t.toml").write_text('name = "t"\nfeatures = ["IF", "reset_zero"]\n[core]\nneurons = 64\n'
                                     'axons = 64\nsynapse_bits = 65536\n')
    assert main(["compile", str(tmp_path / "m.smg"), "--target", str(tmp_path / "t.toml"), "--out",
                 str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "h: target t does not support LIF" in err
    assert not (tmp_path / "b").exists()
