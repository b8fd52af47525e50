"""aetherflow.scheduler."""
