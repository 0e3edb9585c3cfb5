"""What a build shows its user: the placement map (placement_map.py: PNG/SVG picture, JSON and CSV tables)."""
