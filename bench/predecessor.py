"""The predecessor, ``aetherflow-core`` 0.0.14, in its own virtualenv (a black box).

The benchmarks only install it and run its command line; nothing here imports it. The virtualenv
lives in ``bench/.venvs/predecessor`` (gitignored) and is created on first use::

    python bench/predecessor.py                    # create if missing, print its python
    python bench/predecessor.py --extra parquet    # also its ``parquet`` extra (pyarrow)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PREDECESSOR = "aetherflow-core"
PREDECESSOR_VERSION = "0.0.14"
DEFAULT_VENV = Path(__file__).resolve().parent / ".venvs" / "predecessor"

_VERSION_PROBE = "import importlib.metadata as m; print(m.version('aetherflow-core'))"
EXTRA_MODULES = {"parquet": "pyarrow"}
"""A module each supported extra installs (its presence means the extra is installed)."""


def venv_python(venv: Path) -> Path:
    """The python executable inside ``venv``."""
    return venv / "bin" / "python"


def venv_cli(venv: Path) -> Path:
    """The predecessor's ``aetherflow`` console script inside ``venv``."""
    return venv / "bin" / "aetherflow"


def installed_version(venv: Path) -> str | None:
    """The installed predecessor version in ``venv``, or None when it is not installed."""
    python = venv_python(venv)
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-c", _VERSION_PROBE], capture_output=True, text=True, check=False
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def has_module(venv: Path, module: str) -> bool:
    """True when ``module`` is importable by the virtualenv's python."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(venv_python(venv)), "-c", probe], check=False).returncode == 0


def ensure_predecessor(
    venv: Path = DEFAULT_VENV, *, quiet: bool = True, extras: Sequence[str] = ()
) -> Path:
    """Create ``venv`` with the predecessor (and ``extras``) installed unless already there.

    Args:
        venv: Where the virtualenv lives.
        quiet: Pass ``-q`` to pip.
        extras: The predecessor's extras to install too (keys of :data:`EXTRA_MODULES`).

    Returns:
        The path of the virtualenv's python.

    Raises:
        subprocess.CalledProcessError: ``venv`` or ``pip install`` failed.
        RuntimeError: The install finished but the expected version is not importable.
    """
    installed = installed_version(venv) == PREDECESSOR_VERSION and venv_cli(venv).exists()
    if installed and all(has_module(venv, EXTRA_MODULES[extra]) for extra in extras):
        return venv_python(venv)
    if not venv_python(venv).exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    spec = f"{PREDECESSOR}[{','.join(extras)}]" if extras else PREDECESSOR
    subprocess.run([*pip, f"{spec}=={PREDECESSOR_VERSION}"], check=True, env=env)
    found = installed_version(venv)
    if found != PREDECESSOR_VERSION:
        raise RuntimeError(
            f"{PREDECESSOR} {PREDECESSOR_VERSION} is not installed in {venv} (found {found!r}); "
            f"delete {venv} and run again"
        )
    return venv_python(venv)


def main() -> None:
    """Create the predecessor's virtualenv if needed and print its python."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="virtualenv directory")
    parser.add_argument(
        "--extra", action="append", default=[], choices=sorted(EXTRA_MODULES), help="an extra"
    )
    args = parser.parse_args()
    print(ensure_predecessor(args.venv, quiet=False, extras=args.extra))


if __name__ == "__main__":
    main()
