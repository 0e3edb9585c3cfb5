"""Simulators: engines that execute a Graph or a placed Program (reference, fast, cycle, async, crossbar, training)."""
