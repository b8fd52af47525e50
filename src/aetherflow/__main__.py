"""``python -m aetherflow`` runs the CLI."""

from aetherflow.cli.main import entrypoint

if __name__ == "__main__":
    entrypoint()
