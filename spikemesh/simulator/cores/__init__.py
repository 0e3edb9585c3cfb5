"""Core models used by the simulator engines (sync, async, crossbar, training)."""
