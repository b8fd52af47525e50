"""aetherflow.runtime."""
