"""The mesh family: synchronous multi-core / multi-chip meshes. Presets (presets.py: ``tianjic``, ``loihi``) and
the stage list (stages.py)."""

from spikemesh.backends.mesh.presets import loihi, tianjic

__all__ = ["loihi", "tianjic"]
