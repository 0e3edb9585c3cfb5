"""Targets as data: presets, the :AxB suffix, TOML files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import spikemesh
from spikemesh.errors import TargetError
from spikemesh.target.model import Target
from spikemesh.target.registry import resources_summary, target_from_dict, target_to_dict

ISSUE_TOML = """
name = "my-chip"
[chips]
x = 2
y = 2
[chip]
cores_x = 12
cores_y = 13
[core]
neurons = 256
axons = 256
synapse_bits = 180224
weight_bits = 8
state_bits = 16
[noc]
hop_cycles = 1
link_flits_per_cycle = 1
buffer_flits = 4
interchip_hop_cycles = 20
[energy]
synop_pj = 1.0
neuron_update_pj = 1.0
router_hop_pj = 1.0
interchip_bit_pj = 10.0
static_mw = 0.0
"""


def test_tianjic_preset_matches_published_chip() -> None:
    t = spikemesh.target("tianjic")
    # Tianjic (Pei et al., Nature 2019; Deng et al., IEEE JSSC 2020): 156 FCores = 12x13, 256 neurons / 256 axons,
    # ~22 KB SRAM per core, 300 MHz
    assert (t.cores_x, t.cores_y, t.n_cores) == (12, 13, 156)
    assert (t.core.neurons, t.core.axons, t.core.synapse_bits) == (256, 256, 22 * 1024 * 8)
    assert t.clock_hz == 300e6
    assert resources_summary(t)["neurons"] == 156 * 256  # ~40k neurons (Pei et al., Nature 2019)
    assert all(t.energy.sources.get(f) for f in ("synop_pj", "neuron_update_pj", "router_hop_pj"))


def test_loihi_preset() -> None:
    t = spikemesh.target("loihi")
    assert t.cores_per_chip == 128 and t.core.neurons == 1024
    assert t.cores_per_chip * t.core.synapse_bits == 16 * 1024 * 1024 * 8  # 16 MB per chip


def test_speck_preset_matches_sinabs_core_table() -> None:
    t = spikemesh.target("speck")
    # sinabs DynapcnnConfigBuilder.get_constraints: kernel / neuron entries per core 0..8, 1024 bias entries each
    kib = 1024
    assert [t.core_spec(i).kernel_entries for i in range(9)] == [16 * kib] * 3 + [32 * kib] * 2 + [64 * kib] * 2 + [
        16 * kib] * 2
    assert [t.core_spec(i).neuron_entries for i in range(9)] == [64 * kib] * 3 + [32 * kib] * 2 + [16 * kib] * 4
    assert {t.core_spec(i).bias_entries for i in range(9)} == {1024}
    # summed: 327,680 neurons (Speck's published "327K neurons") and 278,528 kernel entries; int8 weights, int16 state
    assert resources_summary(t)["neurons"] == 327_680
    assert sum(t.core_spec(i).kernel_entries for i in range(9)) == 278_528
    assert (t.core.weight_bits, t.core.state_bits, t.energy.static_mw) == (8, 16, 0.42)


def test_grid_suffix_multiplies_chips() -> None:
    t = spikemesh.target("tianjic:2x3")
    assert (t.chips_x, t.chips_y, t.n_chips, t.n_cores) == (2, 3, 6, 6 * 156)
    assert t.name == "tianjic:2x3"
    assert t.core == spikemesh.target("tianjic").core


def test_toml_from_issue(tmp_path: Path) -> None:
    f = tmp_path / "chip.toml"
    f.write_text(ISSUE_TOML)
    t = spikemesh.target(f)
    assert t.name == "my-chip" and t.n_chips == 4 and t.n_cores == 4 * 156
    assert t.core.synapse_bits == 180224 and t.noc.interchip_hop_cycles == 20 and t.energy.interchip_bit_pj == 10.0
    # the dict form round-trips exactly
    assert target_from_dict(target_to_dict(t)) == t


def test_heterogeneous_cores_round_trip() -> None:
    d = {"name": "het", "chip": {"cores_x": 2, "cores_y": 1},
         "cores": [{"neurons": 10, "axons": 4, "synapse_bits": 80}, {"neurons": 20, "axons": 8, "synapse_bits": 160}]}
    t = target_from_dict(d)
    assert [t.core_spec(i).neurons for i in range(4)] == [10, 20, 10, 20]
    assert target_from_dict(target_to_dict(t)) == t


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name = 'x'\n[core]\nneurons = 1\naxons = 1\nsynapse_bits = 8\nbogus = 3\n", "unknown key 'bogus' in [core]"),
        ("[core]\nneurons = 1\naxons = 1\nsynapse_bits = 8\n", "missing key 'name'"),
        ("name = 'x'\n", "missing section [core]"),
        ("name = 'x'\n[core\n", "not valid TOML"),
        ("name = 'x'\n[chip]\ncores_x = 0\n[core]\nneurons = 1\naxons = 1\nsynapse_bits = 8\n",
         "chip.cores_x is out of range"),
        ("name = 'x'\nfeatures = ['IF', 'input_core']\n[core]\nneurons = 1\naxons = 1\nsynapse_bits = 8\n",
         "unknown feature 'input_core'"),
    ],
)
def test_bad_toml_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(TargetError) as e:
        spikemesh.target(f)
    assert needle in str(e.value) and str(f) in str(e.value)


def test_unknown_preset_lists_available() -> None:
    with pytest.raises(TargetError) as e:
        spikemesh.target("truenorth")
    assert "tianjic" in str(e.value) and "truenorth" in str(e.value)


def test_target_passthrough() -> None:
    t = Target("x")
    assert spikemesh.target(t) is t


def test_known_features_cover_every_neuron_kind_and_preset() -> None:
    from spikemesh.backends import FAMILIES
    from spikemesh.ir.neurons import KINDS
    from spikemesh.target.model import FAMILIES as TARGET_FAMILIES
    from spikemesh.target.registry import KNOWN_FEATURES, list_targets

    assert set(KINDS) <= KNOWN_FEATURES
    assert set(TARGET_FAMILIES) == set(FAMILIES)
    for t in list_targets():
        assert t.features <= KNOWN_FEATURES, t.name


def test_speck_has_no_chip_grid() -> None:
    """``speck:2x2`` is refused in one line (a Speck board is one chip); ``speck:1x1`` is plain ``speck``."""
    import spikemesh
    from spikemesh.errors import TargetError

    with pytest.raises(TargetError, match="no chip grid"):
        spikemesh.target("speck:2x2")
    assert spikemesh.target("speck:1x1").cores_per_chip == spikemesh.target("speck").cores_per_chip


@pytest.mark.parametrize("name,hint", [("Tianjic", "did you mean 'tianjic'"), ("tianjic:2by2", "tianjic:2x2"),
                                       ("loihy", "did you mean 'loihi'"), ("nonsense", "spikemesh targets")])
def test_unknown_target_hints(name: str, hint: str) -> None:
    import spikemesh
    from spikemesh.errors import TargetError

    with pytest.raises(TargetError, match=hint):
        spikemesh.target(name)
