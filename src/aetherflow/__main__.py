"""``python -m aetherflow`` runs the CLI."""

from aetherflow.cli.start import entrypoint

if __name__ == "__main__":
    entrypoint()
