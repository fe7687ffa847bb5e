"""Progress lines: rewritten in place on a terminal, a heartbeat at most once a minute in logs."""
import io

from iqalign.pipeline.progress import Progress


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_log_gets_a_heartbeat_not_a_line_per_chunk():
    clock, log = Clock(), io.StringIO()
    p = Progress(100, quiet=False, stream=log, log_every_s=60, clock=clock)
    for _ in range(4):  # 4 chunks in 40 s: nothing yet
        clock.t += 10
        p.update(10)
    assert log.getvalue() == ""
    clock.t += 20  # 60 s since the start
    p.update(10)
    assert log.getvalue() == "  50/100 images (50%), 0.8 img/s, 1 min 00 s left\n"
    clock.t += 10
    p.update(50)  # finished: always a last line
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1] == "  100/100 images (100%), 1.4 img/s, 0 s left"


def test_terminal_line_is_rewritten_in_place_and_quiet_prints_nothing():
    clock, tty = Clock(), Terminal()
    p = Progress(20, quiet=False, stream=tty, clock=clock)
    clock.t = 2
    p.update(10)
    clock.t = 4
    p.update(10)
    out = tty.getvalue()
    assert out.count("\r") == 2 and out.endswith("\n") and out.count("\n") == 1
    assert "10/20 images (50%), 5.0 img/s, 2 s left" in out
    silent = io.StringIO()
    q = Progress(20, quiet=True, stream=silent, clock=clock)
    q.update(20)
    assert silent.getvalue() == ""
