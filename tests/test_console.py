"""Console capture at the file-descriptor level, in real child Python processes.

Each test runs a script in a fresh interpreter whose stdout/stderr are pipes read by the test:
that is "the terminal". The script's sink writes every line it gets to a JSON-lines file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from arty.tracking.console import MAX_LINE_BYTES, _LineSplitter

PRELUDE = """\
import json, os, subprocess, sys, threading, time, warnings
from arty.tracking.console import ConsoleCapture

_sink_file = open(sys.argv[1], "w")
def sink(ts, stream, line):
    _sink_file.write(json.dumps([ts, stream, line]) + "\\n")
    _sink_file.flush()

def report(**kw):
    with open(sys.argv[2], "w") as f:
        json.dump(kw, f)

def open_fds():
    return sorted(int(x) for x in os.listdir("/proc/self/fd"))
"""


def run_script(tmp_path, body: str, timeout: float = 60, **popen):
    script = tmp_path / "script.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    sink_path, report_path = tmp_path / "sink.jsonl", tmp_path / "report.json"
    # Python block-buffers a piped stdout unless told otherwise: keep it so (stop() must flush)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run([sys.executable, str(script), str(sink_path), str(report_path)],
                          capture_output=True, timeout=timeout, env=env, **popen)
    lines = [json.loads(x) for x in sink_path.read_text().splitlines()] if sink_path.exists() else []
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return proc, lines, report


def by_stream(lines, name):
    return [line for _, stream, line in lines if stream == name]


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


@needs_proc
def test_everything_written_to_fd_1_and_2_is_captured_and_still_shown(tmp_path):
    proc, lines, report = run_script(tmp_path, r"""
        import ctypes
        libc = ctypes.CDLL(None)
        st1, st2 = os.fstat(1), os.fstat(2)
        fds = open_fds()
        cap = ConsoleCapture(sink)
        sys.stdout.write("before-start\n")     # still in Python's buffer: start() flushes it
        t0 = time.time()
        cap.start()
        print("py-print", flush=True)
        os.write(1, b"fd1-write\n")
        print("py-stderr", file=sys.stderr, flush=True)
        os.write(2, b"fd2-write\n")
        libc.printf(b"libc-printf %d\n", 42)
        libc.fflush(None)
        subprocess.run(["echo", "child-echo"], check=True)
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child-err\\n')"], check=True)
        for i in range(3):
            sys.stdout.write(f"\rprogress {i}/3")
            sys.stdout.flush()
        sys.stdout.write("\n")
        print("", flush=True)
        os.write(1, b"crlf-line\r\n")
        os.write(1, "caf\u00e9 \u2713\n".encode())
        os.write(1, b"L" * (MAX + 100) + b"\n")
        sys.stdout.write("tail-partial")        # no newline, still in Python's buffer
        sys.stderr.write("err-partial")
        cap.stop()
        t1 = time.time()
        cap.stop()                                # idempotent
        print("after-stop", flush=True)
        os.write(2, b"after-stop-err\n")
        a1, a2 = os.fstat(1), os.fstat(2)
        report(t0=t0, t1=t1, restored=[(st1.st_dev, st1.st_ino) == (a1.st_dev, a1.st_ino),
                                       (st2.st_dev, st2.st_ino) == (a2.st_dev, a2.st_ino)],
               fds_before=fds, fds_after=open_fds(), threads=threading.active_count())
    """.replace("MAX", str(MAX_LINE_BYTES)))
    assert proc.returncode == 0, proc.stderr.decode()

    # the terminal got every byte, raw, carriage returns included
    assert proc.stdout == (b"before-start\npy-print\nfd1-write\nlibc-printf 42\nchild-echo\n"
                           b"\rprogress 0/3\rprogress 1/3\rprogress 2/3\n\ncrlf-line\r\n"
                           + "caf\u00e9 \u2713\n".encode()
                           + b"L" * (MAX_LINE_BYTES + 100) + b"\n"
                           + b"tail-partialafter-stop\n")
    assert proc.stderr == b"py-stderr\nfd2-write\nchild-err\nerr-partialafter-stop-err\n"

    # the sink got every line, with its stream, and nothing after stop()
    assert by_stream(lines, "stdout") == [
        "py-print", "fd1-write", "libc-printf 42", "child-echo",
        "progress 0/3", "progress 1/3", "progress 2/3", "", "crlf-line", "caf\u00e9 \u2713",
        "L" * MAX_LINE_BYTES, "L" * 100, "tail-partial"]
    assert by_stream(lines, "stderr") == ["py-stderr", "fd2-write", "child-err", "err-partial"]
    assert len(lines) == 17

    stamps = [ts for ts, _, _ in lines]
    assert all(report["t0"] <= ts <= report["t1"] for ts in stamps)
    for name in ("stdout", "stderr"):
        s = [ts for ts, stream, _ in lines if stream == name]
        assert s == sorted(s)

    assert report["restored"] == [True, True]
    assert report["fds_after"] == report["fds_before"]  # no descriptor leaked
    assert report["threads"] == 1                         # readers and emitter have ended


@needs_proc
def test_a_blocked_sink_never_blocks_the_program_or_the_terminal(tmp_path):
    """The sink waits until 2,000 lines (> a pipe's 64 KiB) are written: no deadlock."""
    proc, lines, report = run_script(tmp_path, r"""
        release = threading.Event()
        def slow_sink(ts, stream, line):
            release.wait()
            sink(ts, stream, line)
        cap = ConsoleCapture(slow_sink).start()
        for i in range(2000):
            os.write(1, b"line %04d %s\n" % (i, b"." * 100))
        release.set()
        cap.stop(timeout=30)
        report(ok=True)
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    expected = [f"line {i:04d} {'.' * 100}" for i in range(2000)]
    assert proc.stdout.decode().splitlines() == expected
    assert by_stream(lines, "stdout") == expected


@needs_proc
def test_a_sink_that_cannot_keep_up_is_cut_off_at_stop(tmp_path):
    proc, lines, report = run_script(tmp_path, r"""
        never, entered = threading.Event(), threading.Event()
        calls = []
        def stuck_sink(ts, stream, line):
            calls.append(line)
            entered.set()
            never.wait()
        cap = ConsoleCapture(stuck_sink).start()
        os.write(1, b"one\ntwo\n")
        assert entered.wait(30)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = time.monotonic()
            cap.stop(timeout=0.5)
            took = time.monotonic() - t
        report(took=took, calls=list(calls), warnings=[str(w.message) for w in caught])
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"one\ntwo\n"
    assert report["took"] < 5
    assert report["calls"] == ["one"]
    assert any("did not keep up" in w for w in report["warnings"])


@needs_proc
def test_stop_returns_promptly_while_a_child_still_holds_the_pipe(tmp_path):
    """A child started during capture outlives it: stop() doesn't wait for the child; the
    child's later output still reaches the terminal but no longer the sink."""
    proc, lines, report = run_script(tmp_path, r"""
        early = threading.Event()
        def watching_sink(ts, stream, line):
            sink(ts, stream, line)
            if line == "early":
                early.set()
        cap = ConsoleCapture(watching_sink).start()
        child = subprocess.Popen(["sh", "-c", "echo early; read x; echo late"],
                                 stdin=subprocess.PIPE)
        os.write(1, b"parent\n")
        assert early.wait(30)  # the child's first line has come through the capture
        t = time.monotonic()
        cap.stop(timeout=10)
        took = time.monotonic() - t
        child.communicate(b"go\n", timeout=30)
        report(took=took, rc=child.returncode)
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert report["took"] < 2.0, report
    assert report["rc"] == 0
    assert sorted(proc.stdout.splitlines()) == [b"early", b"late", b"parent"]
    assert sorted(by_stream(lines, "stdout")) == ["early", "parent"]


@needs_proc
def test_a_closed_stdout_is_skipped_with_one_warning(tmp_path):
    proc, lines, report = run_script(tmp_path, r"""
        os.close(1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cap = ConsoleCapture(sink).start()
        os.write(2, b"still-err\n")
        cap.stop()
        try:
            os.fstat(1)
            fd1_closed = False
        except OSError:
            fd1_closed = True
        report(streams=cap.streams, warnings=[str(w.message) for w in caught], fd1_closed=fd1_closed)
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(report["warnings"]) == 1 and "stdout" in report["warnings"][0]
    assert report["fd1_closed"] is True   # nothing was left on descriptor 1
    assert lines and by_stream(lines, "stderr") == ["still-err"]
    assert by_stream(lines, "stdout") == []
    assert proc.stderr.startswith(b"still-err\n")  # then Python complains about its closed stdout at exit


@needs_proc
def test_a_raising_sink_warns_once_and_capture_goes_on(tmp_path):
    proc, lines, report = run_script(tmp_path, r"""
        got = []
        def bad(ts, stream, line):
            got.append(line)
            raise ValueError("nope")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with ConsoleCapture(bad):
                for i in range(5):
                    os.write(1, b"n%d\n" % i)
        report(got=got, warnings=[str(w.message) for w in caught])
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert report["got"][:5] == ["n0", "n1", "n2", "n3", "n4"]
    assert len([w for w in report["warnings"] if "sink failed" in w]) == 1
    assert proc.stdout.startswith(b"n0\nn1\nn2\nn3\nn4\n")


@needs_proc
def test_capture_works_with_descriptors_above_1024(tmp_path):
    """A process with many files open (data loaders do): select() could not watch these."""
    import resource
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 2048:
        pytest.skip("the hard limit on open files is below 2048")
    proc, lines, report = run_script(tmp_path, r"""
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        cap = ConsoleCapture(sink).start()
        os.write(1, b"high\n")
        cap.stop()
        report(lowest_free=os.dup(0))
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert report["lowest_free"] > 1024
    assert proc.stdout == b"high\n"
    assert by_stream(lines, "stdout") == ["high"]


@needs_proc
def test_capture_can_start_again_after_stop(tmp_path):
    proc, lines, report = run_script(tmp_path, r"""
        cap = ConsoleCapture(sink)
        cap.start(); cap.start()                 # a second start is a no-op
        os.write(1, b"first\n")
        cap.stop()
        os.write(1, b"between\n")
        cap.start()
        os.write(1, b"second\n")
        cap.stop()
        report(fds=open_fds())
    """)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"first\nbetween\nsecond\n"
    assert by_stream(lines, "stdout") == ["first", "second"]


# -- line splitting ---------------------------------------------------------------------------------

def split(chunks) -> list[str]:
    """Every line a splitter emits for ``chunks``, the unfinished last one included."""
    s = _LineSplitter()
    out = [line for chunk in chunks for line in s.feed(chunk)]
    rest = s.rest()
    return out + ([rest] if rest is not None else [])


SPLIT_CASES = [
    (b"a\nb\n", ["a", "b"]),
    (b"a\r\nb\r\n", ["a", "b"]),
    (b"\n\n", ["", ""]),
    (b"\r\n\r\n", ["", ""]),
    (b"\r 10%\r 20%\r100%\n", [" 10%", " 20%", "100%"]),
    (b"x\ry\rz", ["x", "y", "z"]),
    (b"a\r\r\nb", ["a", "", "b"]),
    (b"no end", ["no end"]),
]


@pytest.mark.parametrize("data,lines", SPLIT_CASES)
def test_line_ends_at_any_read_boundary(data, lines):
    assert split([data]) == lines
    for cut in range(len(data) + 1):
        assert split([data[:cut], data[cut:]]) == lines, cut
    assert split([data[i:i + 1] for i in range(len(data))]) == lines


def test_long_lines_are_split_on_character_boundaries():
    text = "\u00e9" * 40000 + "\u2713" * 30000  # 80,000 + 90,000 bytes of UTF-8
    s = _LineSplitter()
    pieces = s.feed(text.encode() + b"\n")
    assert "".join(pieces) == text
    assert all(len(p.encode()) <= MAX_LINE_BYTES for p in pieces)
    assert len(pieces) == 3
    assert "\ufffd" not in "".join(pieces)
