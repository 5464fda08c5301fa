"""Progress for long work: a redrawn bar (count, percent, rate, ETA) when the
stream is a terminal, plain periodic lines otherwise (logs and CI get no ANSI
or carriage returns). No dependency.

    for batch in progress(loader, desc="epoch 1"):        # iterator wrapper
        ...
    with Progress(total=n, desc="convert", unit="file") as bar:   # context manager
        for f in files:
            ...
            bar.update(1)
            bar.set_postfix(skipped=k)

The stream defaults to sys.stderr so that stdout stays data.
"""
import math
import os
import shutil
import sys
import time

__all__ = ["Progress", "progress", "format_duration"]

_now = time.monotonic  # patched by the tests


def format_duration(seconds):
    """'MM:SS' under an hour, 'H:MM:SS' beyond, '?' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _format_count(n):
    return str(int(n)) if float(n).is_integer() else f"{n:.4g}"


def _format_rate(rate, unit):
    if rate is None or rate <= 0 or not math.isfinite(rate):
        return f"? {unit}/s"
    if rate >= 1:
        return f"{rate:.1f} {unit}/s" if rate < 1000 else f"{rate:,.0f} {unit}/s"
    return f"{1 / rate:.2f} s/{unit}"


def _is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts work and reports it on `file` (default sys.stderr).

    iterable: wrapped by iteration (total taken from len() when it has one).
    total: the expected count (None: count and rate only, no percent or ETA).
    desc, unit: the label in front and the unit of the rate ("it", "file", "batch").
    interval: seconds between reports; default 0.1 on a terminal, 10 otherwise.
    tty: force the terminal (True) or the plain-line (False) form; None asks file.isatty().
    disable: report nothing (counting still works); None means the environment
        variable TESSEL_PROGRESS=0 disables.
    """

    def __init__(self, iterable=None, total=None, desc="", unit="it", file=None, interval=None, tty=None,
                 disable=None, width=None):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except (TypeError, AttributeError):
                total = None
        if total is not None:
            if isinstance(total, bool) or not isinstance(total, (int, float)) or total < 0:
                raise ValueError(f"Progress: total must be a non-negative number or None, got {total!r}")
        if interval is not None and (not isinstance(interval, (int, float)) or interval < 0):
            raise ValueError(f"Progress: interval must be a non-negative number of seconds, got {interval!r}")
        self.iterable = iterable
        self.total = total
        self.desc = str(desc)
        self.unit = str(unit)
        self.file = file if file is not None else sys.stderr
        self.tty = _is_tty(self.file) if tty is None else bool(tty)
        self.interval = (0.1 if self.tty else 10.0) if interval is None else float(interval)
        if disable is None:
            disable = os.environ.get("TESSEL_PROGRESS", "").strip().lower() in ("0", "false", "no", "off")
        self.disable = bool(disable)
        self._width = width
        self.n = 0
        self.postfix = ""
        self.start = _now()
        self._last_report = None
        self._last_len = 0
        self.closed = False

    # ----- counting --------------------------------------------------------------------------------------

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("Progress: nothing to iterate (pass an iterable, or call update())")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self):
        if self.total is None:
            raise TypeError("Progress: total is unknown")
        return int(self.total)

    def update(self, n=1):
        """Adds n to the count and reports if `interval` has passed since the last report."""
        self.n += n
        if self.disable or self.closed:
            return
        now = _now()
        if self.tty:
            due = (self._last_report is None or now - self._last_report >= self.interval
                   or (self.total is not None and self.n >= self.total))
        else:
            # Plain lines every `interval` from the start: a short job prints only the final line.
            due = now - (self._last_report if self._last_report is not None else self.start) >= self.interval
        if due:
            self._report(now)

    def set_postfix(self, **values):
        """Extra 'key=value' fields shown after the rate (e.g. loss)."""
        parts = []
        for k, v in values.items():
            parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
        self.postfix = ", ".join(parts)

    def set_description(self, desc):
        self.desc = str(desc)

    # ----- figures ---------------------------------------------------------------------------------------

    @property
    def elapsed(self):
        return _now() - self.start

    def rate(self, now=None):
        dt = (now if now is not None else _now()) - self.start
        return self.n / dt if dt > 0 and self.n > 0 else None

    def eta(self, now=None):
        """Seconds left (None when the total or the rate is unknown)."""
        if self.total is None:
            return None
        r = self.rate(now)
        if r is None:
            return None
        return max(self.total - self.n, 0) / r

    # ----- reporting -------------------------------------------------------------------------------------

    def format(self, now=None, final=False):
        """The text of one report (the bar on a terminal, a plain line otherwise)."""
        now = _now() if now is None else now
        elapsed = now - self.start
        rate = self.rate(now)
        head = f"{self.desc}: " if self.desc else ""
        tail = f", {self.postfix}" if self.postfix else ""
        count = _format_count(self.n)
        if self.total is None:
            return f"{head}{count} {self.unit} [{format_duration(elapsed)}, {_format_rate(rate, self.unit)}{tail}]"
        total = _format_count(self.total)
        when = (f"{format_duration(elapsed)}" if final
                else f"{format_duration(elapsed)}<{format_duration(self.eta(now))}")
        frac = min(self.n / self.total, 1.0) if self.total else 1.0
        pct = f"{frac:4.0%}"
        stats = f"{count}/{total} [{when}, {_format_rate(rate, self.unit)}{tail}]"
        if not self.tty:
            return f"{head}{count}/{total} ({pct.strip()}) [{when}, {_format_rate(rate, self.unit)}{tail}]"
        width = self._width or shutil.get_terminal_size((80, 24)).columns
        room = width - len(head) - len(pct) - len(stats) - 4
        if room < 5:
            return f"{head}{pct} {stats}"[:max(width - 1, 1)]
        filled = int(frac * room)
        return f"{head}{pct} |{'#' * filled}{' ' * (room - filled)}| {stats}"

    def _write(self, text, end):
        try:
            self.file.write(text + end)
            self.file.flush()
        except (ValueError, OSError):  # a closed or broken stream must not stop the work it reports on
            self.disable = True

    def _report(self, now, final=False):
        self._last_report = now
        text = self.format(now, final=final)
        if self.tty:
            # \r redraws the line; pad over a longer previous text instead of an ANSI erase.
            pad = max(self._last_len - len(text), 0)
            self._last_len = len(text)
            self._write("\r" + text + " " * pad, "\n" if final else "")
        else:
            self._write(text, "\n")

    def refresh(self):
        if not self.disable and not self.closed:
            self._report(_now())

    def close(self):
        """The final report (once): the bar ends its line; plain output prints a last line."""
        if self.closed:
            return
        if not self.disable:
            self._report(_now(), final=True)
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __repr__(self):
        return f"Progress({self.format()!r})"


def progress(iterable=None, **kwargs):
    """Progress(iterable, ...): wraps an iterable, or is a context manager when none is given."""
    return Progress(iterable, **kwargs)
