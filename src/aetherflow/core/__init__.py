"""aetherflow.core."""
