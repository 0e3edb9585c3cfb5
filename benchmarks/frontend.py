"""Frontend speed: NIR import of the paper CNN and from_torch on a ResNet-18-sized spiking network.

Prints a table of measured wall times (best and median of repeats) with the machine load. Peers: the
ResNet-18 case needs snnTorch (the `peers` extra); nirtorch's own NIR reader (`nir.read`) is timed on the same
file as a side-by-side reference. Run: `nice .venv/bin/python benchmarks/frontend.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nir  # noqa: E402

from spikemesh.frontend import load  # noqa: E402

#: the NIR paper's example graphs (github.com/neuromorphs/NIR, paper/), where the machine keeps them
DATA = next((p for p in (ROOT.parent / "shared" / "data" / "nir_paper", ROOT.parents[1] / "shared" / "data" /
                         "nir_paper", Path("/work/shared/data/nir_paper")) if p.is_dir()), None)


def timed(fn, repeats: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def resnet18_spiking():
    """ResNet-18 layout (conv 7x7/2, 4 stages x 2 basic blocks with 1x1 projection shortcuts, fc 1000) with an
    snnTorch Leaky neuron after every BatchNorm(-add); max pooling replaced by average pooling (spiking)."""
    import snntorch as snn
    import torch
    from torch import nn

    def lif():
        return snn.Leaky(beta=0.9, init_hidden=True)

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1, self.b1, self.l1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), lif()
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())
            self.l2 = lif()

        def forward(self, x):
            return self.l2(self.b2(self.c2(self.l1(self.b1(self.c1(x))))) + self.short(x))

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), lif())
            self.pool = nn.AvgPool2d(2)
            layers, cin = [], 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.head = nn.AvgPool2d(7)
            self.fc, self.out = nn.Linear(512, 1000), lif()

        def forward(self, x):
            x = self.head(self.layers(self.pool(self.stem(x))))
            return self.out(self.fc(torch.flatten(x, 1)))

    return ResNet18().eval(), torch.zeros(1, 3, 224, 224)


def main() -> None:
    load_avg = os.getloadavg()
    rows = []
    if DATA is not None:
        path = DATA / "cnn_sinabs.nir"
        load(path)  # warm imports
        best, med, g = timed(lambda: load(path), 10)
        rows.append(("load('cnn_sinabs.nir')", best, med, 0.5, f"{g.n_neurons:,} neurons, {len(g.populations)} layers"))
        best_r, med_r, _ = timed(lambda: nir.read(path), 10)
        rows.append(("  reference: nir.read (same file)", best_r, med_r, None, "nir's reader, no IR"))
    try:
        import snntorch  # noqa: F401

        from spikemesh.frontend import from_torch

        net, x = resnet18_spiking()
        n_params = sum(p.numel() for p in net.parameters())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best, med, g = timed(lambda: from_torch(net, x), 3)
        rows.append(("from_torch(ResNet-18 spiking)", best, med, 5.0,
                     f"{n_params / 1e6:.1f}M params, {g.n_neurons:,} neurons, {len(g.populations)} layers, "
                     f"{len(g.projections)} projections"))
    except ImportError:
        rows.append(("from_torch(ResNet-18 spiking)", float("nan"), float("nan"), 5.0, "snntorch not installed"))
    print(f"frontend benchmark  (load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}, "
          f"{os.cpu_count()} cpus)")
    print(f"{'case':36} {'best [s]':>9} {'median [s]':>11} {'target [s]':>11}  note")
    for name, best, med, target, note in rows:
        tgt = f"{target:.1f}" if target else "-"
        ok = "" if target is None or best != best else ("  met" if best < target else "  NOT MET")
        print(f"{name:36} {best:9.4f} {med:11.4f} {tgt:>11}  {note}{ok}")


if __name__ == "__main__":
    main()
