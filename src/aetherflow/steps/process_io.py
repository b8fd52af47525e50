"""Where a child's stdout/stderr go: inherit, capture (bounded, keeps the tail), file, discard.

``inherit`` on an interactive terminal becomes ``live``: the output is read line by line and
shown through ``external_process_stdout``/``_stderr`` events (the text log renders them with a
``[job/step]`` prefix), so parallel output stays attributable.

Captured output is read by one thread per stream while the child runs and is only looked at
after the threads finished (the predecessor read it before joining them). Capture keeps the
**last** ``max_capture_bytes`` — what an operator needs from a failure. Each captured line is
also emitted as an ``external_process_stdout``/``_stderr`` event, up to a cap per attempt.
"""

from __future__ import annotations

import collections
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

MAX_LINE_EVENTS = 1000
MAX_EVENT_LINE_CHARS = 2000


class TailBuffer:
    """Keeps the last ``limit`` bytes written to it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.total = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``, dropping the oldest bytes beyond the limit."""
        self.total += len(chunk)
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= self.limit:
            self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        """The kept bytes (at most ``limit``), decoded as UTF-8 with replacement."""
        data = b"".join(self._chunks)[-self.limit :]
        return data.decode("utf-8", errors="replace")

    @property
    def truncated(self) -> bool:
        """True when older output was dropped."""
        return self.total > self.limit


class StreamReader(threading.Thread):
    """Drains one pipe into a :class:`TailBuffer`, reporting lines through ``on_line``."""

    def __init__(
        self,
        stream: IO[bytes],
        limit: int,
        on_line: Callable[[str], None] | None,
        *,
        max_events: int | None = MAX_LINE_EVENTS,
    ) -> None:
        super().__init__(daemon=True, name="aetherflow-capture")
        self.max_events = max_events
        self.stream = stream
        self.buffer = TailBuffer(limit)
        self.on_line = on_line
        self.lines_reported = 0
        self.lines_dropped = 0
        self._partial = b""

    def run(self) -> None:
        """Read until EOF."""
        read = getattr(self.stream, "read1", self.stream.read)
        while chunk := read(65536):
            self.buffer.write(chunk)
            if self.on_line is not None:
                self._report(chunk)
        if self._partial and self.on_line is not None:
            self._emit(self._partial)
        self.stream.close()

    def _report(self, chunk: bytes) -> None:
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        if len(self._partial) > MAX_EVENT_LINE_CHARS * 4:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            self._emit(line)

    def _emit(self, line: bytes) -> None:
        if self.max_events is not None and self.lines_reported >= self.max_events:
            self.lines_dropped += 1
            return
        self.lines_reported += 1
        assert self.on_line is not None
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        self.on_line(text[:MAX_EVENT_LINE_CHARS])


class StreamPlan:
    """How one stream is handled in one attempt."""

    def __init__(
        self,
        mode: str,
        *,
        limit: int,
        log_file: IO[bytes] | None,
        on_line: Callable[[str], None] | None,
    ) -> None:
        self.mode = mode
        self.limit = limit
        self.log_file = log_file
        self.on_line = on_line
        self.reader: StreamReader | None = None

    def popen_target(self) -> Any:
        """The ``stdout=``/``stderr=`` argument for ``Popen``."""
        if self.mode in ("capture", "live"):
            return subprocess.PIPE
        if self.mode == "discard":
            return subprocess.DEVNULL
        if self.mode == "file":
            return self.log_file
        return None  # inherit

    def start(self, stream: IO[bytes] | None) -> None:
        """Start draining the pipe (capture and live modes)."""
        if self.mode in ("capture", "live") and stream is not None:
            self.reader = StreamReader(
                stream,
                self.limit,
                self.on_line,
                max_events=None if self.mode == "live" else MAX_LINE_EVENTS,
            )
            self.reader.start()

    def finish(self) -> str | None:
        """Wait for the reader; the captured text (capture mode) or None."""
        if self.reader is None:
            return None
        self.reader.join()
        return self.reader.buffer.text() if self.mode == "capture" else None

    @property
    def truncated(self) -> bool:
        """True when capture dropped older output (beyond ``max_capture_bytes``)."""
        return self.reader is not None and self.mode == "capture" and self.reader.buffer.truncated

    @property
    def lines_dropped(self) -> int:
        """Lines not reported as events because of the per-attempt cap."""
        return 0 if self.reader is None else self.reader.lines_dropped


def open_log_file(path: Path, attempt: int, display: str) -> IO[bytes]:
    """Open the log file for appending and write the attempt header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    handle.write(f"=== aetherflow attempt {attempt} at {stamp}: {display}\n".encode())
    handle.flush()
    return handle
