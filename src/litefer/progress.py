"""A dependency-free progress bar on stderr (count, rate, ETA); silent when stderr is not a TTY
unless forced."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, desc: str = "", enabled: bool | None = None,
                 every_s: float = 0.2):
        self.total, self.desc, self.n, self.info = total, desc, 0, {}
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = self._last = time.monotonic()
        self.every_s = every_s

    def update(self, n: int = 1, **info) -> None:
        """Advance by n; ``info`` (running totals such as faces=...) is shown as given, and kept
        for the final line."""
        self.n += n
        self.info = info
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.every_s or self.n == self.total):
            self._last = now
            self._draw(now, info)

    def _draw(self, now: float, info: dict) -> None:
        rate = self.n / max(now - self.t0, 1e-9)
        extra = " ".join(f"{k}={v}" for k, v in info.items())
        if self.total:
            frac = self.n / self.total
            eta = (self.total - self.n) / max(rate, 1e-9)
            bar = "#" * int(frac * 24)
            line = (f"{self.desc} [{bar:<24}] {self.n}/{self.total} {rate:.1f}/s "
                    f"ETA {int(eta) // 60:d}:{int(eta) % 60:02d} {extra}")
        else:
            line = f"{self.desc} {self.n} {rate:.1f}/s {extra}"
        sys.stderr.write("\r" + line[:150].ljust(60))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic(), self.info)
            sys.stderr.write("\n")
            sys.stderr.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
