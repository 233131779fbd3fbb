"""The machine: core pinning, per-core CPU use, resident memory, the processes the harness starts."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

# Runs a command with its CPU affinity set first; the command and its children inherit it.
_PIN = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execvp(sys.argv[2], sys.argv[2:])"


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pinned(core: int | None, command: list[str]) -> list[str]:
    """The command, run pinned to one core (no pinning when core is None)."""
    if core is None:
        return command
    return [sys.executable, "-c", _PIN, str(core), *command]


def pin_self(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {"uname_m": platform.machine(), "kernel": platform.release(), "cpu_model": cpu_model(),
            "cores_online": os.cpu_count(), "memory_gib": _memory_gib(), "load_average": list(os.getloadavg())}


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def cpu_times() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per core, from /proc/stat."""
    out: dict[int, tuple[int, int]] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                values = [int(v) for v in fields[:8]]
                idle = values[3] + values[4]  # idle + iowait
                out[int(name[3:])] = (sum(values) - idle, sum(values))
    return out


def busy_pct(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], core: int | None) -> float | None:
    """How busy a core was between two cpu_times() readings, in percent."""
    if core is None or core not in before or core not in after:
        return None
    busy = after[core][0] - before[core][0]
    total = after[core][1] - before[core][1]
    return round(100 * busy / total, 1) if total > 0 else None


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MB (MiB, as the kernel counts)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


class Process:
    """A process the harness started, in its own process group; stop() ends the group."""

    def __init__(self, command: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.popen = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-size:]
        return ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        else:
            # The leader is gone; make sure nothing of its group survives.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


def wait_http(url: str, process: Process, timeout: float = 60) -> None:
    """Wait until url answers 200, or raise with the process's log."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"the server exited:\n{process.log_tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{process.log_tail()}")
