"""Mesh chip configuration benchmark: CIFAR-10 ResNet-18 (IF, 557,066 neurons, 4.8e8 synapses) compiled for
``tianjic:15x15``; prints the config stage's emission time, the time to write ``mesh_config.json`` and the
configuration's arrays (compressed, as they are stored in ``weights.npz``), their sizes on disk, what the unfolded
synapse image would cost, and ``uptime``. Optionally (``--verify``) the verifier's time on the same build.

Run: ``nice .venv/bin/python benchmarks/mesh_config.py [--verify]`` (about 1 min: the compile takes ~20 s).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main() -> None:
    import numpy as np
    from networks import resnet18

    import spikemesh
    from spikemesh.backends.mesh.emit import emit_config
    from spikemesh.fileio import npz_bytes

    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    g = resnet18()
    t0 = time.perf_counter()
    prog = spikemesh.compile(g, "tianjic:15x15")  # the default time limit
    print(f"compile {time.perf_counter() - t0:.1f} s; stages {prog.report['time']}")
    t0 = time.perf_counter()
    cfg = emit_config(prog)
    t_emit = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        cfg.export(d, prog)
        t_json = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, arrays = cfg.to_parts()
        data = npz_bytes({f"section/config/{k}": v for k, v in arrays.items()})
        (Path(d) / "config_arrays.npz").write_bytes(data)
        t_npz = time.perf_counter() - t0
        js = (Path(d) / "mesh_config.json").stat().st_size
        nz = (Path(d) / "config_arrays.npz").stat().st_size
    raw = sum(a.nbytes for a in arrays.values())
    c = cfg.header["counts"]
    syn = g.summary()["synapses"]
    wb = cfg.header["target"]["limits"]["weight_bits"]
    print(f"cores {c['cores']}, slots {c['slots']:,}, axons {c['axons']:,}, explicit synapse entries "
          f"{c['synapse_entries']:,}, conv blocks {c['conv_blocks']:,} (kernel slices "
          f"{c['kernel_entries']:,} weights; kernels stored once {c['conv_weights']:,}), "
          f"routers {c['routers']:,}, table entries {c['table_entries']:,}, inter-chip links {c['interchip_links']}")
    print(f"emission: config stage {t_emit:.2f} s + mesh_config.json {t_json:.2f} s + arrays npz {t_npz:.2f} s = "
          f"{t_emit + t_json + t_npz:.2f} s (limit 30 s)")
    print(f"size on disk: mesh_config.json {js / 2**20:.1f} MiB, arrays {nz / 2**20:.1f} MiB compressed "
          f"({raw / 2**20:.1f} MiB raw); total {(js + nz) / 2**20:.1f} MiB")
    print(f"unfolded synapse image (one {wb}-bit weight per synapse, no index): {syn:,} synapses = "
          f"{syn * wb / 8 / 2**20:,.0f} MiB of weights alone; as (axon, lane, weight) entries "
          f"{syn * (4 + 4 + 1) / 2**30:,.1f} GiB")
    if "--verify" in sys.argv:
        from spikemesh.backends.mesh.verify import verify_config

        t0 = time.perf_counter()
        problems = verify_config(cfg, None)
        print(f"verify (without the graph) {time.perf_counter() - t0:.1f} s: {len(problems)} problems")
        for p in problems[:10]:
            print("  ", p)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    del np


if __name__ == "__main__":
    main()
