"""On an interactive terminal, inherited child output streams live with a [job/step] prefix."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from .conftest import clean_env


def run_in_pty(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child side closed
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


def run_two_line_flow(tmp_path: Path, *options: str) -> list[str]:
    """Run a one-step flow printing ``first-line`` (stdout) and ``second-line`` (stderr) on a
    pseudo-terminal; the lines shown."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        f"flow: {{id: tty, state: {{path: '{tmp_path / 'state.db'}'}}}}\n"
        "jobs:\n  - id: build\n    steps:\n"
        "      - {id: compile, type: external.process,"
        " inputs: {command: ['sh', '-c', 'echo first-line; echo second-line >&2']}}\n"
    )
    env = clean_env({"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")})
    args = [sys.executable, "-m", "aetherflow", "run", str(flow), *options]
    code, output = run_in_pty(args, env, tmp_path)
    assert code == 0, output
    return output.replace("\r", "").splitlines()


def test_inherited_output_is_prefixed_on_a_tty(tmp_path: Path) -> None:
    lines = run_two_line_flow(tmp_path)
    output = "\n".join(lines)
    assert any(line.endswith("[build/compile] first-line") for line in lines), output
    assert any(line.endswith("[build/compile] second-line") for line in lines), output


def test_quiet_on_a_tty_shows_the_commands_own_output(tmp_path: Path) -> None:
    lines = run_two_line_flow(tmp_path, "-q")
    assert "first-line" in lines, lines
    assert "second-line" in lines, lines
    assert not any("[build/compile]" in line for line in lines), lines
