"""Crossbar presets, [extra.crossbar] keys and their errors."""

from __future__ import annotations

import pytest

import spikemesh
from spikemesh.backends.crossbar.target import crossbar_config
from spikemesh.errors import TargetError
from spikemesh.target.registry import target_from_dict, target_to_dict


@pytest.mark.parametrize(("name", "n"), [("crossbar", 128), ("crossbar-256", 256), ("crossbar-512", 512)])
def test_presets(name: str, n: int) -> None:
    t = spikemesh.target(name)
    cfg = crossbar_config(t)
    assert (cfg.rows, cfg.cols, t.core.axons, t.core.neurons) == (n, n, n, n // 2)
    again = crossbar_config(target_from_dict(target_to_dict(t)))
    assert again == cfg


def test_bad_keys_and_values() -> None:
    t = spikemesh.target("crossbar")
    with pytest.raises(TargetError, match="unknown key 'bogus'"):
        crossbar_config(t, bogus=1)
    with pytest.raises(TargetError, match="scheme"):
        crossbar_config(t, scheme="triple")
    with pytest.raises(TargetError, match="not a crossbar target"):
        crossbar_config(spikemesh.target("tianjic"))
    assert crossbar_config(t, adc_bits=5).energy.adc(5) == 0.99
