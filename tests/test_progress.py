"""Progress reporting: plain periodic lines and a summary when not a terminal, a bar with rate/ETA on one."""

import io

from worker.cli.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def shift(self, seconds: float) -> None:
        self.now += seconds


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_plain_lines_with_rate_and_eta_then_a_summary():
    stream = _Stream(tty=False)
    clock = _Clock()
    with Progress("copying", 100, stream=stream, interval=5.0, clock=clock) as bar:
        for _ in range(10):
            clock.shift(1)
            bar.update(5)
    lines = stream.getvalue().splitlines()
    # one line per 5 s of work (at 5 s and 10 s), then the summary
    assert lines[0] == "copying: 25/100 (25%), 5.0/s, ETA 15s"
    assert lines[1] == "copying: 50/100 (50%), 5.0/s, ETA 10s"
    assert lines[-1] == "copying: done, 50 in 10s (5.0/s)"
    assert len(lines) == 3


def test_unknown_total_and_failure_summary():
    stream = _Stream(tty=False)
    clock = _Clock()
    try:
        with Progress("scanning", None, stream=stream, interval=1.0, clock=clock) as bar:
            clock.shift(2)
            bar.update(4)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert stream.getvalue().splitlines() == ["scanning: 4, 2.0/s", "scanning: stopped, 4 in 2s (2.0/s)"]


def test_terminal_gets_a_bar():
    stream = _Stream(tty=True)
    with Progress("reanalysing", 3, stream=stream) as bar:
        bar.update(3)
    out = stream.getvalue()
    assert "reanalysing" in out and "3/3" in out and "100%" in out
    assert out.rstrip().splitlines()[-1].startswith("reanalysing: done, 3 in")


def test_disabled_is_silent():
    stream = _Stream(tty=False)
    with Progress("quiet", 5, stream=stream, enabled=False) as bar:
        bar.update(5)
    assert stream.getvalue() == "" and bar.done == 5
