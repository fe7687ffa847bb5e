"""Progress of a long run: lively on a terminal, a few lines in a log or CI."""
from __future__ import annotations

import math
import sys
import time
from typing import Callable, TextIO


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Images done, rate and time left, on stderr.

    On a terminal the line is rewritten in place after every chunk. When stderr is not a terminal
    (a log file, CI) a line is written at most every ``log_every_s`` seconds and once at the end,
    so a day-long run leaves a readable heartbeat instead of thousands of lines. ``quiet``: nothing.
    """

    def __init__(self, total: int, quiet: bool, *, stream: TextIO | None = None, log_every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.quiet, self.done = total, quiet, 0
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every_s, self.clock = log_every_s, clock
        self.start = self.last_line = clock()

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.done}/{self.total} images ({pct:.0f}%), {rate:.1f} img/s, {_eta(left)} left"

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        finished = self.done >= self.total
        if self.tty:
            end = "\n" if finished else ""
            self.stream.write(f"\r  {self.line()}\033[K{end}")
            self.stream.flush()
        elif finished or self.clock() - self.last_line >= self.log_every_s:
            self.stream.write(f"  {self.line()}\n")
            self.stream.flush()
            self.last_line = self.clock()
