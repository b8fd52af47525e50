"""aetherflow.spec."""
