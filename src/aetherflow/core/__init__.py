"""The predecessor's package path, kept so ``aetherflow.core.api`` imports keep working."""
