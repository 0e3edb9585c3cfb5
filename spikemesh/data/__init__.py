"""Bundled example model and inputs for `spikemesh demo`."""
