"""Placement and routing: logical cores onto chips and mesh positions, deadlock-free routes, routing tables."""
