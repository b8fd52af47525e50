"""aetherflow.connectors."""
