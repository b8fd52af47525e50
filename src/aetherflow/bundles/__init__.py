"""aetherflow.bundles."""
