"""aetherflow.steps."""
