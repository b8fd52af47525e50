"""aetherflow.cli."""
