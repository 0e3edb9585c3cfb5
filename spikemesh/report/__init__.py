"""What a build shows its user: the placement map (placement_map.py: PNG/SVG picture, JSON and CSV tables), plots
of a run (plots.py, public as ``spikemesh.plot``) and the self-contained ``report.html`` (html.py)."""
