"""System metrics: one flat sample of CPU, memory, disk, network and NVIDIA GPUs.

:class:`SystemSampler` takes one sample; :class:`SystemMonitor` calls a callback with a sample
immediately and then every ``interval`` seconds from a daemon thread.

Keys of a sample (all values are floats):

============================  ===============================================================
``cpu.percent``               system-wide CPU use since the previous sample (or creation), 0-100
``cpu.count``                 logical CPUs
``proc.cpu.percent``          CPU use of the process since the previous sample (or creation);
                              psutil's convention: 100 is one full core, up to ``100 * cpu.count``
``memory.percent``            system memory in use, 0-100
``memory.used_mb``            system memory in use, MB (2**20 bytes, as everywhere below)
``memory.available_mb``       memory available to new processes without swapping
``proc.memory.rss_mb``        resident set size of the process
``proc.threads``              threads of the process
``disk.read_mb``              bytes read from all disks since the sampler was created
``disk.write_mb``             bytes written to all disks since the sampler was created
``net.sent_mb``               bytes sent on all interfaces since the sampler was created
``net.recv_mb``               bytes received on all interfaces since the sampler was created
``disk.used_percent``         use of the filesystem holding the working directory (at creation)
``gpu.{i}.utilization``       GPU i busy, 0-100
``gpu.{i}.memory_used_mb``    GPU i memory in use
``gpu.{i}.memory_total_mb``   GPU i memory
``gpu.{i}.memory_percent``    ``100 * used / total``
``gpu.{i}.temperature``       degrees Celsius
``gpu.{i}.power_w``           power draw, watts
============================  ===============================================================

GPUs are read through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package, extra
``arty[gpu]``) when it imports and a driver answers; else through one
``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` call per sample when that program is
on ``PATH``; else there are no ``gpu.*`` keys. A probe that fails (no permission to read disk
counters, a GPU that does not report power, a driver error) leaves its keys out of the sample:
:meth:`SystemSampler.sample` never raises.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import warnings
from typing import Any, Callable

import psutil

__all__ = ["SystemSampler", "SystemMonitor", "NVIDIA_SMI_FIELDS"]

MB = float(1 << 20)

#: Fields asked of ``nvidia-smi --query-gpu``, in this order.
NVIDIA_SMI_FIELDS = ("index", "utilization.gpu", "memory.used", "memory.total",
                     "temperature.gpu", "power.draw")

#: Seconds one ``nvidia-smi`` call may take before the sample goes on without GPU keys.
NVIDIA_SMI_TIMEOUT = 5.0

#: CPU percentages over a shorter window than this (seconds) are mostly clock-tick noise (CPU
#: time advances in 10 ms ticks): such a sample reports the average since the process started
#: (``proc.cpu.percent``) or since boot (``cpu.percent``) instead.
MIN_CPU_WINDOW = 0.1


def _busy_and_total(t: Any) -> tuple[float, float]:
    """Busy and total CPU seconds from ``psutil.cpu_times()`` (psutil's own accounting)."""
    total = sum(t)
    # On Linux guest time is already counted in user/nice.
    total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return total - idle, total


class _NvmlReader:
    """GPU readings through NVML; construction raises when NVML or a driver is missing."""

    def __init__(self) -> None:
        import pynvml  # noqa: PLC0415 (optional dependency)

        self._nv = pynvml
        pynvml.nvmlInit()
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:
            pynvml.nvmlShutdown()
            raise
        self._closed = False

    def read(self) -> dict[str, float]:
        nv = self._nv
        out: dict[str, float] = {}
        for i, h in enumerate(self._handles):
            p = f"gpu.{i}."
            try:
                out[p + "utilization"] = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            except Exception:
                pass
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                out[p + "memory_used_mb"] = mem.used / MB
                out[p + "memory_total_mb"] = mem.total / MB
                if mem.total:
                    out[p + "memory_percent"] = 100.0 * mem.used / mem.total
            except Exception:
                pass
            try:
                out[p + "temperature"] = float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            except Exception:
                pass
            try:
                out[p + "power_w"] = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
            except Exception:
                pass
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._nv.nvmlShutdown()
            except Exception:
                pass


def _smi_number(text: str) -> float | None:
    """A number from nvidia-smi's CSV, None for ``[N/A]``, ``[Not Supported]`` and the like."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_nvidia_smi(output: str) -> dict[str, float]:
    """The ``gpu.*`` keys from ``nvidia-smi --query-gpu=<NVIDIA_SMI_FIELDS> --format=csv,noheader,nounits``."""
    out: dict[str, float] = {}
    for line in output.splitlines():
        cols = [c.strip() for c in line.split(",")]
        if len(cols) != len(NVIDIA_SMI_FIELDS):
            continue
        index = _smi_number(cols[0])
        if index is None:
            continue
        p = f"gpu.{int(index)}."
        util, used, total, temp, power = (_smi_number(c) for c in cols[1:])
        if util is not None:
            out[p + "utilization"] = util
        if used is not None:
            out[p + "memory_used_mb"] = used
        if total is not None:
            out[p + "memory_total_mb"] = total
        if used is not None and total:
            out[p + "memory_percent"] = 100.0 * used / total
        if temp is not None:
            out[p + "temperature"] = temp
        if power is not None:
            out[p + "power_w"] = power
    return out


class _SmiReader:
    """GPU readings from one ``nvidia-smi`` call per read."""

    def __init__(self, exe: str) -> None:
        self._cmd = [exe, "--query-gpu=" + ",".join(NVIDIA_SMI_FIELDS),
                     "--format=csv,noheader,nounits"]
        self.ever_worked = False

    def read(self) -> dict[str, float] | None:
        """The gpu keys, or None when the call failed."""
        try:
            proc = subprocess.run(self._cmd, capture_output=True, text=True,
                                  timeout=NVIDIA_SMI_TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        self.ever_worked = True
        return parse_nvidia_smi(proc.stdout)

    def close(self) -> None:
        pass


class SystemSampler:
    """Takes flat samples of system and process metrics (see the module docstring for keys).

    ``pid`` is the process whose ``proc.*`` keys are reported (default: this one; when it does not
    exist or has ended, the ``proc.*`` keys are left out). Disk and network
    counters, and the CPU percentages, are measured from the moment the sampler is created.
    ``gpu`` picks the GPU source: ``"auto"`` (NVML, else nvidia-smi, else none), ``"nvml"``,
    ``"nvidia-smi"`` or ``None`` (no GPU keys).
    """

    def __init__(self, pid: int | None = None, *, gpu: str | None = "auto") -> None:
        self.pid = os.getpid() if pid is None else pid
        self._lock = threading.Lock()
        self._proc_last: tuple[float, float] | None = None  # (monotonic, process CPU seconds)
        try:
            self._proc: psutil.Process | None = psutil.Process(self.pid)
            self._proc_started = self._proc.create_time()
            t = self._proc.cpu_times()
            self._proc_last = (time.monotonic(), t.user + t.system)
        except Exception:
            self._proc = None
        try:
            self._cpu_last: tuple[float, float, float] | None = (
                time.monotonic(), *_busy_and_total(psutil.cpu_times()))
        except Exception:
            self._cpu_last = None
        try:
            self._cpu_count: int | None = psutil.cpu_count(logical=True) or os.cpu_count()
        except Exception:
            self._cpu_count = os.cpu_count()
        self._disk0 = self._disk_counters()
        self._net0 = self._net_counters()
        try:
            self._cwd: str | None = os.getcwd()
        except OSError:
            self._cwd = None
        self.gpu_source: str | None = None
        self._gpu: _NvmlReader | _SmiReader | None = None
        if gpu not in ("auto", "nvml", "nvidia-smi", None):
            raise ValueError(f"gpu must be 'auto', 'nvml', 'nvidia-smi' or None, not {gpu!r}")
        if gpu in ("auto", "nvml"):
            try:
                self._gpu = _NvmlReader()
                self.gpu_source = "nvml"
            except Exception:
                self._gpu = None
        if self._gpu is None and gpu in ("auto", "nvidia-smi"):
            exe = shutil.which("nvidia-smi")
            if exe:
                self._gpu = _SmiReader(exe)
                self.gpu_source = "nvidia-smi"

    # -- probes ------------------------------------------------------------------------------

    @staticmethod
    def _disk_counters() -> tuple[int, int] | None:
        try:
            c = psutil.disk_io_counters()
        except Exception:
            return None
        return None if c is None else (c.read_bytes, c.write_bytes)

    @staticmethod
    def _net_counters() -> tuple[int, int] | None:
        try:
            c = psutil.net_io_counters()
        except Exception:
            return None
        return None if c is None else (c.bytes_sent, c.bytes_recv)

    def _cpu(self, out: dict[str, float]) -> None:
        if self._cpu_count:
            out["cpu.count"] = float(self._cpu_count)
        try:
            busy_now, total_now = _busy_and_total(psutil.cpu_times())
        except Exception:
            return
        now = time.monotonic()
        if self._cpu_last is not None and now - self._cpu_last[0] >= MIN_CPU_WINDOW:
            busy, total = busy_now - self._cpu_last[1], total_now - self._cpu_last[2]
        else:  # too short a window to measure: the average since boot
            busy, total = busy_now, total_now
        if total > 0:
            out["cpu.percent"] = min(100.0, max(0.0, 100.0 * busy / total))
        self._cpu_last = (now, busy_now, total_now)

    def _process(self, out: dict[str, float]) -> None:
        if self._proc is None:
            return
        try:
            with self._proc.oneshot():
                t = self._proc.cpu_times()
                rss = self._proc.memory_info().rss
                threads = self._proc.num_threads()
        except Exception:
            return
        now, cpu_now = time.monotonic(), t.user + t.system
        last = self._proc_last
        if last is not None and now - last[0] >= MIN_CPU_WINDOW:
            cpu, wall = cpu_now - last[1], now - last[0]
        else:  # too short a window to measure: the average since the process started
            cpu, wall = cpu_now, time.time() - self._proc_started
        if wall > 0:
            top = 100.0 * (self._cpu_count or 1)
            out["proc.cpu.percent"] = min(top, max(0.0, 100.0 * cpu / wall))
        self._proc_last = (now, cpu_now)
        out["proc.memory.rss_mb"] = rss / MB
        out["proc.threads"] = float(threads)

    @staticmethod
    def _memory(out: dict[str, float]) -> None:
        try:
            vm = psutil.virtual_memory()
        except Exception:
            return
        out["memory.percent"] = float(vm.percent)
        out["memory.used_mb"] = vm.used / MB
        out["memory.available_mb"] = vm.available / MB

    def _io(self, out: dict[str, float]) -> None:
        if self._disk0 is not None:
            now = self._disk_counters()
            if now is not None:
                out["disk.read_mb"] = max(0, now[0] - self._disk0[0]) / MB
                out["disk.write_mb"] = max(0, now[1] - self._disk0[1]) / MB
        if self._net0 is not None:
            now = self._net_counters()
            if now is not None:
                out["net.sent_mb"] = max(0, now[0] - self._net0[0]) / MB
                out["net.recv_mb"] = max(0, now[1] - self._net0[1]) / MB
        if self._cwd is not None:
            try:
                out["disk.used_percent"] = float(psutil.disk_usage(self._cwd).percent)
            except Exception:
                pass

    def _gpus(self, out: dict[str, float]) -> None:
        reader = self._gpu
        if reader is None:
            return
        try:
            got = reader.read()
        except Exception:
            got = None
        if got is None:
            if isinstance(reader, _SmiReader) and not reader.ever_worked:
                # nvidia-smi exists but no driver answers: don't pay for it every sample.
                self._gpu = None
                self.gpu_source = None
            return
        out.update(got)

    # -- public ------------------------------------------------------------------------------

    def sample(self) -> dict[str, float]:
        """One flat sample; keys whose probe failed are left out. Never raises."""
        out: dict[str, float] = {}
        with self._lock:
            for probe in (self._cpu, self._process, self._memory, self._io, self._gpus):
                try:
                    probe(out)
                except Exception:
                    pass
        return out

    def close(self) -> None:
        """Release NVML (if it was used). Idempotent; later samples have no GPU keys."""
        with self._lock:
            reader, self._gpu = self._gpu, None
            self.gpu_source = None
        if reader is not None:
            reader.close()

    def __enter__(self) -> "SystemSampler":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SystemMonitor:
    """Calls ``callback(time.time(), sampler.sample())`` now and every ``interval`` seconds.

    The thread is a daemon and starts on construction. Ticks keep a fixed rate (a slow callback
    skips ticks rather than bunching them). An exception from the callback (or from a custom
    sampler) is reported once with :func:`warnings.warn` and the monitor goes on. :meth:`stop`
    wakes the thread at once, waits for a callback in progress (up to ``timeout``) and is
    idempotent. A sampler the monitor created itself is closed by :meth:`stop`.
    """

    def __init__(self, callback: Callable[[float, dict], None], interval: float = 10.0,
                 sampler: SystemSampler | None = None) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.callback = callback
        self.interval = float(interval)
        self._own_sampler = sampler is None
        self.sampler = SystemSampler() if sampler is None else sampler
        self._stop = threading.Event()
        self._warned = False
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="arty-system-monitor", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                ts = time.time()
                self.callback(ts, self.sampler.sample())
            except Exception as exc:  # never kill the thread
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"system metrics callback failed: {type(exc).__name__}: {exc} "
                                  "(further failures are not reported)", RuntimeWarning, stacklevel=1)
            now = time.monotonic()
            next_at += self.interval
            if next_at <= now:  # fell behind: skip the missed ticks
                next_at = now + self.interval - (now - next_at) % self.interval
            self._stop.wait(next_at - now)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; returns as soon as it has finished (or after ``timeout``)."""
        with self._stop_lock:
            self._stop.set()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout)
            if not self._stopped:
                self._stopped = True
                if self._own_sampler:
                    self.sampler.close()

    def __enter__(self) -> "SystemMonitor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
