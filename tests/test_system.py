"""System metrics: real psutil readings of this machine and of real child processes.

No NVIDIA GPU exists where these tests were written, so the GPU path is exercised with a fake
``nvidia-smi`` program (a shell script put first on ``PATH`` that prints the CSV the real one
prints); NVML is made absent by blocking the ``pynvml`` import. With a real GPU and driver the
tests that need NVML to be absent or failing say so and are skipped.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings

import psutil
import pytest

from arty.tracking.system import NVIDIA_SMI_FIELDS, SystemMonitor, SystemSampler

MB = float(1 << 20)

BASE_KEYS = {"cpu.percent", "cpu.count", "proc.cpu.percent", "memory.percent", "memory.used_mb",
             "memory.available_mb", "proc.memory.rss_mb", "proc.threads", "disk.used_percent"}


def nvml_works() -> bool:
    try:
        import pynvml
        pynvml.nvmlInit()
    except Exception:
        return False
    pynvml.nvmlShutdown()
    return True


# -- one sample ---------------------------------------------------------------------------------

def test_sample_has_the_keys_with_sane_values():
    s = SystemSampler(gpu=None)
    v = s.sample()
    assert BASE_KEYS <= set(v)
    if psutil.disk_io_counters() is not None:
        assert {"disk.read_mb", "disk.write_mb"} <= set(v)
    if psutil.net_io_counters() is not None:
        assert {"net.sent_mb", "net.recv_mb"} <= set(v)
    assert all(isinstance(x, float) for x in v.values()), v
    assert not any(k.startswith("gpu.") for k in v)

    assert v["cpu.count"] == psutil.cpu_count()
    assert 0.0 <= v["cpu.percent"] <= 100.0
    assert 0.0 <= v["proc.cpu.percent"] <= 100.0 * v["cpu.count"] + 1
    vm = psutil.virtual_memory()
    assert abs(v["memory.percent"] - vm.percent) < 10
    assert 0 < v["memory.used_mb"] < vm.total / MB
    assert 0 < v["memory.available_mb"] <= vm.total / MB
    rss = psutil.Process().memory_info().rss / MB
    assert 0.5 * rss < v["proc.memory.rss_mb"] < 2 * rss
    assert v["proc.threads"] >= threading.active_count()
    assert abs(v["disk.used_percent"] - psutil.disk_usage(os.getcwd()).percent) < 1.0
    for k in ("disk.read_mb", "disk.write_mb", "net.sent_mb", "net.recv_mb"):
        assert v.get(k, 0.0) >= 0.0


def test_proc_keys_follow_the_given_pid():
    """A child that holds 200 MB and runs 3 extra threads: the sampler of its pid sees both."""
    code = ("import sys, threading\n"
            "block = bytearray(200 * 1024 * 1024)\n"
            "for i in range(0, len(block), 4096): block[i] = 1\n"
            "ev = threading.Event()\n"
            "ts = [threading.Thread(target=ev.wait) for _ in range(3)]\n"
            "[t.start() for t in ts]\n"
            "print('ready', flush=True)\n"
            "sys.stdin.readline()\n"
            "ev.set()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        v = SystemSampler(pid=child.pid, gpu=None).sample()
        assert v["proc.memory.rss_mb"] >= 195
        assert v["proc.threads"] >= 4
        mine = SystemSampler(gpu=None).sample()
        # The default pid is this process (whose size depends on what ran before: compare with it).
        import psutil
        assert abs(mine["proc.memory.rss_mb"] - psutil.Process().memory_info().rss / 2**20) < 50
    finally:
        child.communicate("\n", timeout=30)
    # The process is gone: its keys are dropped, the rest is still sampled, nothing raises.
    gone = SystemSampler(pid=child.pid, gpu=None).sample()
    assert not any(k.startswith("proc.") for k in gone)
    assert "memory.percent" in gone


def test_cpu_percent_measures_since_the_previous_sample():
    """Burn 0.3 s of CPU between two samples; compare with this process's own clocks."""
    s = SystemSampler(gpu=None)
    s.sample()
    w0, c0 = time.monotonic(), time.process_time()
    x = 0
    while time.process_time() - c0 < 0.3:
        x += 1
    v = s.sample()
    w1, c1 = time.monotonic(), time.process_time()
    share = 100.0 * (c1 - c0) / (w1 - w0)   # this process's CPU over (about) the same window
    assert share > 0
    assert abs(v["proc.cpu.percent"] - share) < 10 + 0.1 * share, (v, share)
    # the whole machine was busy at least with this process (clock ticks are 10 ms: 5 points)
    assert v["cpu.percent"] >= share / v["cpu.count"] - 5, (v, share)


def test_a_sample_right_after_creation_reports_cpu_since_the_process_started():
    """A window of a millisecond can't be measured in 10 ms clock ticks: no 1000 % spikes."""
    me = psutil.Process()
    for _ in range(20):
        v = SystemSampler(gpu=None).sample()
        t = me.cpu_times()
        lifetime = 100.0 * (t.user + t.system) / (time.time() - me.create_time())
        assert abs(v["proc.cpu.percent"] - lifetime) < 5 + 0.1 * lifetime, (v, lifetime)
        assert 0.0 <= v["cpu.percent"] <= 100.0


def test_network_counters_are_deltas_since_creation():
    """5 MB over loopback: the sampler reports them, and not the machine's totals since boot."""
    if psutil.net_io_counters() is None:
        pytest.skip("no network counters here")
    before = psutil.net_io_counters()
    s = SystemSampler(gpu=None)
    after_creation = psutil.net_io_counters()

    payload = b"x" * (5 * 1024 * 1024)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    got = bytearray()

    def receive():
        conn, _ = srv.accept()
        with conn:
            while chunk := conn.recv(1 << 16):
                got.extend(chunk)

    t = threading.Thread(target=receive)
    t.start()
    with socket.create_connection(srv.getsockname()) as c:
        c.sendall(payload)
    t.join(30)
    srv.close()
    assert len(got) == len(payload)

    mid = psutil.net_io_counters()
    v = s.sample()
    end = psutil.net_io_counters()
    # base was read between `before` and `after_creation`, the sample between `mid` and `end`
    assert (mid.bytes_sent - after_creation.bytes_sent) / MB <= v["net.sent_mb"] + 1e-9
    assert v["net.sent_mb"] <= (end.bytes_sent - before.bytes_sent) / MB + 1e-9
    assert (mid.bytes_recv - after_creation.bytes_recv) / MB <= v["net.recv_mb"] + 1e-9
    assert v["net.recv_mb"] <= (end.bytes_recv - before.bytes_recv) / MB + 1e-9
    assert v["net.sent_mb"] >= 4.9 and v["net.recv_mb"] >= 4.9
    # a second sampler starts from zero again
    fresh_before = psutil.net_io_counters()
    fresh = SystemSampler(gpu=None).sample()
    fresh_end = psutil.net_io_counters()
    assert fresh["net.sent_mb"] <= (fresh_end.bytes_sent - fresh_before.bytes_sent) / MB + 1e-9


def test_disk_counters_are_deltas_since_creation(tmp_path):
    if psutil.disk_io_counters() is None:
        pytest.skip("no disk counters here")
    before = psutil.disk_io_counters()
    s = SystemSampler(gpu=None)
    after_creation = psutil.disk_io_counters()
    with open(tmp_path / "blob", "wb") as f:
        f.write(os.urandom(8 * 1024 * 1024))
        f.flush()
        os.fsync(f.fileno())
    mid = psutil.disk_io_counters()
    v = s.sample()
    end = psutil.disk_io_counters()
    for key, field in (("disk.write_mb", "write_bytes"), ("disk.read_mb", "read_bytes")):
        low = (getattr(mid, field) - getattr(after_creation, field)) / MB
        high = (getattr(end, field) - getattr(before, field)) / MB
        assert low - 1e-9 <= v[key] <= high + 1e-9, (key, low, v[key], high)
    # only a delta can be this small when the machine has done any disk I/O since boot
    if before.write_bytes > (end.write_bytes - before.write_bytes) + 1:
        assert v["disk.write_mb"] * MB < before.write_bytes


def test_one_sample_is_cheap():
    s = SystemSampler()
    if s.gpu_source is not None:
        pytest.skip("a GPU source is present; the 20 ms budget is for machines without one")
    s.sample()
    times = []
    for _ in range(20):
        t = time.perf_counter()
        s.sample()
        times.append(time.perf_counter() - t)
    times.sort()
    assert times[len(times) // 2] < 0.020, times


# -- GPUs through a fake nvidia-smi ---------------------------------------------------------------

SMI_OUTPUT = ("0, 45, 1024, 81920, 61, 250.50\n"
              "1, [N/A], 40960, 81920, 55, [Not Supported]\n")


def fake_smi(bin_dir, output=SMI_OUTPUT, exit_code=0):
    """An ``nvidia-smi`` that checks its arguments, logs each call and prints ``output``."""
    bin_dir.mkdir(exist_ok=True)
    log = bin_dir / "calls.log"
    (bin_dir / "out.csv").write_text(output)
    query = "--query-gpu=" + ",".join(NVIDIA_SMI_FIELDS)
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'if [ "$1" != "{query}" ] || [ "$2" != "--format=csv,noheader,nounits" ]; then\n'
        '  echo "bad arguments: $*" >&2; exit 2\n'
        "fi\n"
        f'cat "{bin_dir / "out.csv"}"\n'
        f"exit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return log


@pytest.fixture
def no_nvml(monkeypatch):
    """NVML absent: ``import pynvml`` fails, as when nvidia-ml-py is not installed."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def test_gpu_keys_from_nvidia_smi_when_nvml_is_absent(tmp_path, monkeypatch, no_nvml):
    log = fake_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    s = SystemSampler()
    assert s.gpu_source == "nvidia-smi"
    v = s.sample()
    assert v["gpu.0.utilization"] == 45.0
    assert v["gpu.0.memory_used_mb"] == 1024.0
    assert v["gpu.0.memory_total_mb"] == 81920.0
    assert v["gpu.0.memory_percent"] == pytest.approx(1.25)
    assert v["gpu.0.temperature"] == 61.0
    assert v["gpu.0.power_w"] == 250.5
    # what the GPU does not report is left out, the rest of that GPU is kept
    assert "gpu.1.utilization" not in v and "gpu.1.power_w" not in v
    assert v["gpu.1.memory_percent"] == pytest.approx(50.0)
    assert v["gpu.1.temperature"] == 55.0
    assert BASE_KEYS <= set(v)
    s.sample()
    assert len(log.read_text().splitlines()) == 2  # one call per sample


def test_nvidia_smi_is_the_fallback_when_nvml_cannot_start(tmp_path, monkeypatch):
    """nvidia-ml-py installed (or not) but no driver: NVML fails and nvidia-smi is used."""
    if nvml_works():
        pytest.skip("NVML works on this machine")
    fake_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    s = SystemSampler()
    assert s.gpu_source == "nvidia-smi"
    assert s.sample()["gpu.0.utilization"] == 45.0


def test_a_failing_nvidia_smi_drops_gpu_keys_and_is_not_retried(tmp_path, monkeypatch, no_nvml):
    """Like nvidia-smi without a driver: exit status 9, no GPU keys, no call per sample."""
    log = fake_smi(tmp_path / "bin", output="NVIDIA-SMI has failed\n", exit_code=9)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    s = SystemSampler()
    for _ in range(3):
        v = s.sample()
        assert not any(k.startswith("gpu.") for k in v)
        assert BASE_KEYS <= set(v)
    assert len(log.read_text().splitlines()) == 1


def test_no_gpu_source_means_no_gpu_keys(tmp_path, monkeypatch, no_nvml):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    s = SystemSampler()
    assert s.gpu_source is None
    v = s.sample()
    assert not any(k.startswith("gpu.") for k in v)
    assert BASE_KEYS <= set(v)


def test_gpu_none_ignores_nvidia_smi(tmp_path, monkeypatch):
    log = fake_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    s = SystemSampler(gpu=None)
    assert not any(k.startswith("gpu.") for k in s.sample())
    assert not log.exists()
    with pytest.raises(ValueError):
        SystemSampler(gpu="amd")


# -- the monitor ----------------------------------------------------------------------------------

class Recorder:
    def __init__(self, want: int):
        self.calls: list[tuple[float, dict]] = []
        self.want = want
        self.enough = threading.Event()
        self.first = threading.Event()

    def __call__(self, ts, sample):
        self.calls.append((ts, sample))
        self.first.set()
        if len(self.calls) >= self.want:
            self.enough.set()


def test_monitor_calls_back_at_once_and_stops_promptly():
    rec = Recorder(1)
    t0 = time.time()
    mon = SystemMonitor(rec, interval=30.0, sampler=SystemSampler(gpu=None))
    try:
        assert rec.first.wait(5), "no sample at start"
        ts, sample = rec.calls[0]
        assert t0 <= ts <= time.time()
        assert BASE_KEYS <= set(sample)
    finally:
        t = time.perf_counter()
        mon.stop()
        took = time.perf_counter() - t
    assert took < 1.0, f"stop took {took:.2f} s with a 30 s interval"
    assert not mon.running
    assert len(rec.calls) == 1
    mon.stop()  # idempotent
    mon.stop()


def test_monitor_samples_every_interval():
    rec = Recorder(4)
    start = time.time()
    with SystemMonitor(rec, interval=0.05, sampler=SystemSampler(gpu=None)) as mon:
        assert rec.enough.wait(10), f"only {len(rec.calls)} samples"
    assert not mon.running
    stamps = [ts for ts, _ in rec.calls]
    assert stamps == sorted(stamps)
    # ticks are on a fixed schedule: the 4th comes no earlier than 3 intervals after the start
    assert stamps[3] - start >= 3 * 0.05 - 0.005


def test_a_raising_callback_does_not_kill_the_monitor():
    calls = []
    enough = threading.Event()

    def bad(ts, sample):
        calls.append(ts)
        if len(calls) >= 3:
            enough.set()
        raise RuntimeError("boom")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mon = SystemMonitor(bad, interval=0.02, sampler=SystemSampler(gpu=None))
        try:
            assert enough.wait(10), "the thread died after the first exception"
            assert mon.running
        finally:
            mon.stop()
    ours = [w for w in caught if "system metrics callback failed" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "boom" in str(ours[0].message)
    assert issubclass(ours[0].category, RuntimeWarning)


def test_monitor_survives_a_raising_sampler():
    class Flaky:
        n = 0

        def sample(self):
            self.n += 1
            if self.n == 1:
                raise OSError("probe failed")
            return {"x": float(self.n)}

    rec = Recorder(2)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SystemMonitor(rec, interval=0.02, sampler=Flaky()):
            assert rec.enough.wait(10)
    assert [s["x"] for _, s in rec.calls[:2]] == [2.0, 3.0]


def test_monitor_rejects_a_bad_interval():
    with pytest.raises(ValueError):
        SystemMonitor(lambda ts, s: None, interval=0)
