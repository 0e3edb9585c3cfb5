"""Compile stages of the trainer family: lower only (``spikemesh.train`` distributes the layers over the engines
itself, or through the partition with ``layout="partition"``)."""

from spikemesh.backends.lower import lower_stage

STAGES = (("lower", lower_stage),)
