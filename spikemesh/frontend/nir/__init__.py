"""NIR (the Neuromorphic Intermediate Representation; Pedersen et al., Nat. Commun. 15:8122, 2024; the ``nir``
package, github.com/neuromorphs/NIR) in and out of the IR.

- read.py: ``.nir`` files and ``nir`` node objects → ``RawNode`` trees (plain NumPy data), nested graphs flattened.
- nodes.py: one NIR node → an IR operator or neuron (the discretisation rules: dt, forward Euler, IF conventions).
- importer.py: ``load``: a flattened NIR graph → ``ir.Graph`` (shapes, operator chains, implicit recurrent delays).
- export.py: ``to_nir`` / ``save_nir``: ``ir.Graph`` → ``nir.NIRGraph`` / a ``.nir`` file.
"""

from spikemesh.frontend.nir.export import save_nir, to_nir
from spikemesh.frontend.nir.importer import load

__all__ = ["load", "save_nir", "to_nir"]
