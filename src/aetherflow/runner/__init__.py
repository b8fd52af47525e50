"""aetherflow.runner."""
