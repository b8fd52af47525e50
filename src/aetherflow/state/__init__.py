"""aetherflow.state."""
