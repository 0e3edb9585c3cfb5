"""The fast engine's kernel choice: the default call takes the specialised kernel for a long run, keeps the generic
one (no JIT, no files) for a short run, and loads the specialised kernel from the disk cache in a later process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikemesh
from spikemesh.simulator import fast, kernel_cache, special
from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty kernel cache for this test (and its subprocesses), and no driver loaded in this process yet."""
    monkeypatch.setenv("SPIKEMESH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(special, "_DRIVERS", {})
    return tmp_path


def test_default_long_run_takes_specialised_kernel_and_keeps_spikes(cache: Path) -> None:
    # a CUBA network just above the threshold: the plain default call must pick the specialised kernel by itself
    n = 2000
    steps = fast.SPECIALIZE_CELLS // n + 1
    net = cuba_network(n, in_degree=80, seed=1)
    g = cuba_graph(net)
    si = initial_inputs(g, net, steps)
    got = spikemesh.simulate(g, si, engine="fast")
    assert got.stats["kernel"] == "specialised"
    assert got.stats["kernel_code"] == "compiled"
    assert list(cache.glob("kernels/*.py")), "the generated driver is written to the cache dir"
    generic = spikemesh.simulate(g, si, engine="fast", specialize=False)
    assert generic.stats["kernel"] == "generic"
    assert got.spikes["lif"].sum() > 1000
    np.testing.assert_array_equal(got.spikes["lif"], generic.spikes["lif"])


def test_short_run_stays_generic_without_compiling(cache: Path) -> None:
    net = cuba_network(300, in_degree=30, seed=4)
    g = cuba_graph(net)
    res = spikemesh.simulate(g, initial_inputs(g, net, 50), engine="fast")
    assert 50 * 300 < fast.SPECIALIZE_CELLS
    assert (res.stats["kernel"], res.stats["kernel_code"]) == ("generic", None)
    assert not list(cache.rglob("*")), "a short run writes nothing to the kernel cache"
    # once the driver is compiled (here: asked for), the same short default call uses it
    spikemesh.simulate(g, initial_inputs(g, net, 50), engine="fast", specialize=True)
    again = spikemesh.simulate(g, initial_inputs(g, net, 50), engine="fast")
    assert again.stats["kernel"] == "specialised"
    np.testing.assert_array_equal(again.spikes["lif"], res.spikes["lif"])


CHILD = """
import json, sys
sys.path.insert(0, {root!r})
import spikemesh
from spikemesh.simulator.cuba import cuba_graph, cuba_network, initial_inputs
net = cuba_network(300, in_degree=30, seed=4)
g = cuba_graph(net)
res = spikemesh.simulate(g, initial_inputs(g, net, {steps}), engine="fast", specialize={spec})
print(json.dumps({{"kernel": res.stats["kernel"], "code": res.stats["kernel_code"],
                  "spikes": int(res.spikes["lif"].sum())}}))
"""


def _child(steps: int, spec: bool | None) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), steps=steps, spec=spec)],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_driver_from_disk(cache: Path) -> None:
    # process 1 compiles (specialize=True); process 2's plain default call of a short run of the same graph finds
    # it on disk and loads it instead of compiling; both give the generic kernel's spikes
    first = _child(400, True)
    assert (first["kernel"], first["code"]) == ("specialised", "compiled")
    second = _child(400, None)
    assert (second["kernel"], second["code"]) == ("specialised", "disk cache")
    net = cuba_network(300, in_degree=30, seed=4)
    g = cuba_graph(net)
    generic = spikemesh.simulate(g, initial_inputs(g, net, 400), engine="fast", specialize=False)
    assert first["spikes"] == second["spikes"] == int(generic.spikes["lif"].sum()) > 0


def test_cache_dir_keeps_a_bounded_number_of_drivers(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_cache, "CACHE_KEEP", 4)
    profiles = [((True, True, False, strict, reset, False, False, True, 1, bounded),)
                for strict in (False, True) for reset in (0, 1, 2) for bounded in (False,)]
    for prof in profiles:  # 6 distinct drivers: written (not compiled) as modules
        src = special.driver_source(prof, (False,), False, (0,), (-1,))
        assert kernel_cache.module(src, special.DEPS) is not None
    assert len(list((cache / "kernels").glob("*.py"))) == 4
