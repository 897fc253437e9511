"""A small progress bar with rate and ETA (no dependency), for training and long commands.

On a terminal it redraws one line in place; when the output is a file or a pipe it prints a
plain line every ``every_s`` seconds instead, so logs stay readable.
"""

from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75 -> '1:15'``, ``3725 -> '1:02:05'``."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """``bar = ProgressBar(total, desc="epoch 1/20", unit="img")``; ``bar.update(n, loss=...)``.

    The rate is counted in ``unit`` per second (for training: images, passing the batch size
    to ``update``); the ETA extrapolates the average rate since the start.
    """

    def __init__(self, total: int, desc: str = "", unit: str = "it", stream=None, width: int = 24,
                 every_s: float = 10.0, initial: int = 0):
        self.total, self.desc, self.unit, self.width = int(total), desc, unit, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every_s = every_s
        self.count = self.initial = int(initial)  # work done before this bar started (a resume)
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self.postfix = ""

    def update(self, n: int = 1, **stats) -> None:
        self.count += n
        if stats:
            self.postfix = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items())
        now = time.perf_counter()
        if self.tty and now - self._last_draw >= 0.1 or not self.tty and now - self._last_draw >= self.every_s:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = (self.count - self.initial) / elapsed
        frac = min(self.count / self.total, 1.0) if self.total else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        eta = (self.total - self.count) / rate if rate > 0 else float("inf")
        return (f"{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f} {self.unit}/s "
                f"{format_duration(elapsed)}<{format_duration(eta)}  {self.postfix}").rstrip()

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self, message: str | None = None) -> None:
        """Finish the bar's line (and print ``message`` on its own line, if given)."""
        if self.tty:
            self.stream.write("\r\x1b[2K")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
