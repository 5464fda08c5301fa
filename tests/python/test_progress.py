"""tessel.utils.progress: a bar on a terminal, plain lines otherwise."""
import io
import re

import pytest

from tessel.utils import progress as P


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(P, "_now", c)
    return c


def test_tty_bar_shows_count_rate_eta(clock):
    out = FakeTTY()
    bar = P.Progress(total=100, desc="work", unit="file", file=out, width=80)
    assert bar.tty
    clock.t += 2.0
    bar.update(20)  # 20 files in 2 s: 10 file/s, 80 left -> 8 s
    text = out.getvalue()
    assert text.startswith("\rwork:  20% |")
    assert "20/100 [00:02<00:08, 10.0 file/s]" in text
    assert "\n" not in text
    assert "\x1b" not in text
    # The bar fills in proportion: 20% of its room is '#'.
    inner = re.search(r"\|([# ]+)\|", text).group(1)
    assert inner.count("#") == int(0.2 * len(inner))
    assert len(text) - 1 <= 80


def test_tty_redraw_is_throttled_and_close_ends_line(clock):
    out = FakeTTY()
    bar = P.Progress(total=10, file=out, interval=1.0, width=60)
    clock.t += 0.5
    bar.update()  # first update always draws
    clock.t += 0.1
    bar.update()  # within the interval: no redraw
    assert out.getvalue().count("\r") == 1
    clock.t += 1.0
    bar.update()
    assert out.getvalue().count("\r") == 2
    bar.close()
    bar.close()  # once only
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "3/10 [00:02, 1.9 it/s]" in text.splitlines()[-1].split("\r")[-1]  # final: elapsed, no ETA


def test_tty_shorter_redraw_pads_over_previous(clock):
    out = FakeTTY()
    bar = P.Progress(total=None, file=out, interval=0, width=80)
    bar.set_postfix(loss=123456.789, note="a long note here")
    clock.t += 1
    bar.update()
    first = out.getvalue().split("\r")[-1]
    bar.set_postfix()
    clock.t += 1
    bar.update()
    second = out.getvalue().split("\r")[-1]
    assert len(second) == len(first)
    assert second.rstrip().endswith("]")


def test_plain_lines_when_not_a_tty(clock):
    out = io.StringIO()
    bar = P.Progress(total=1000, desc="convert", file=out, interval=10)
    assert not bar.tty
    for _ in range(5):
        clock.t += 3
        bar.update(100)
    bar.close()
    lines = out.getvalue().splitlines()
    # 15 s of work with a 10 s interval: one periodic line, then the final one.
    assert len(lines) == 2
    assert lines[0] == "convert: 400/1000 (40%) [00:12<00:18, 33.3 it/s]"
    assert lines[1] == "convert: 500/1000 (50%) [00:15, 33.3 it/s]"
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_iterator_wrapper_counts_and_takes_len(clock):
    out = io.StringIO()
    items = list(range(7))
    seen = []
    for x in P.progress(items, file=out, desc="it"):
        clock.t += 1
        seen.append(x)
    assert seen == items
    assert out.getvalue() == "it: 7/7 (100%) [00:07, 1.0 it/s]\n"


def test_iterator_without_len_and_slow_rate(clock):
    out = io.StringIO()
    gen = (i for i in range(3))
    bar = P.Progress(gen, file=out, unit="batch", interval=60)
    assert bar.total is None
    for _ in bar:
        clock.t += 4
    assert out.getvalue() == "3 batch [00:12, 4.00 s/batch]\n"


def test_iterator_closes_on_break_and_error(clock):
    out = io.StringIO()
    for i in P.progress(range(100), file=out):
        if i == 4:
            break
    assert out.getvalue().startswith("4/100 (4%)")
    out2 = io.StringIO()
    with pytest.raises(RuntimeError):
        with P.Progress(total=5, file=out2) as bar:
            bar.update(2)
            raise RuntimeError("boom")
    assert out2.getvalue().startswith("2/5 (40%)")


def test_context_manager_postfix_and_description(clock):
    out = io.StringIO()
    with P.Progress(total=4, file=out) as bar:
        bar.set_description("epoch 2")
        clock.t += 2
        bar.update(4)
        bar.set_postfix(loss=0.123456, acc=0.5, step=7)
    assert out.getvalue() == "epoch 2: 4/4 (100%) [00:02, 2.0 it/s, loss=0.1235, acc=0.5, step=7]\n"


def test_disable_and_env(clock, monkeypatch):
    out = FakeTTY()
    bar = P.Progress(total=3, file=out, disable=True)
    bar.update(3)
    bar.close()
    assert out.getvalue() == "" and bar.n == 3
    monkeypatch.setenv("TESSEL_PROGRESS", "0")
    with P.Progress(total=3, file=out) as bar:
        bar.update()
    assert out.getvalue() == ""


def test_forced_mode_and_closed_stream(clock):
    out = io.StringIO()
    bar = P.Progress(total=2, file=out, tty=True, width=40)
    bar.update()
    assert out.getvalue().startswith("\r")
    out.close()
    bar.update()  # a closed stream disables reporting instead of raising
    bar.close()
    assert bar.disable


def test_bad_arguments():
    with pytest.raises(ValueError, match="total"):
        P.Progress(total=-1)
    with pytest.raises(ValueError, match="total"):
        P.Progress(total="10")
    with pytest.raises(ValueError, match="interval"):
        P.Progress(total=1, interval=-2)
    with pytest.raises(TypeError, match="nothing to iterate"):
        iter(P.Progress(total=3)).__next__()


def test_format_duration():
    assert P.format_duration(0) == "00:00"
    assert P.format_duration(75.4) == "01:15"
    assert P.format_duration(3725) == "1:02:05"
    assert P.format_duration(None) == "?"
    assert P.format_duration(float("inf")) == "?"


def test_narrow_terminal_drops_the_bar(clock):
    out = FakeTTY()
    bar = P.Progress(total=10, desc="a long description", file=out, width=30)
    clock.t += 1
    bar.update()
    text = out.getvalue()[1:]
    assert "|" not in text and len(text) <= 29
