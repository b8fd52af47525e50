"""The console-script entry point: the CLI's imports run without the cyclic garbage collector.

Importing the CLI creates tens of thousands of objects that live as long as the process
(modules, classes, functions, pydantic validators) and almost no garbage. With the collector on,
those imports trigger dozens of collections that scan the same survivors again and again (about
30 ms of a 0.25 s start). So the collector is paused while :mod:`aetherflow.cli.main` is
imported, what the imports made is moved to the permanent generation (``gc.freeze``: later full
collections of the run do not scan it either) and the collector runs as usual from then on.
"""

from __future__ import annotations

import gc


def entrypoint() -> None:
    """``aetherflow`` (and ``python -m aetherflow``): import the CLI, then run it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        from aetherflow.cli.main import entrypoint as run_cli  # noqa: PLC0415 - collector paused
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
    run_cli()
