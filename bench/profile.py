"""`--profile`: where ours spends its time in each scenario, sampled by py-spy from outside.

py-spy (`.venv/bin/pip install py-spy`; not a dependency of the project) samples the granian
workers during the timed window without touching their code. Two views are recorded at once: "wall" (threads
running or waiting in a system call) and "gil" (the thread holding the GIL). The collapsed stacks
(bench/results/profile-<scenario>-<view>.txt; any flame-graph tool reads them) are summarised in
bench/results/profile-<scenario>-summary.txt: the functions where the samples end (self time), the
frames they pass through (inclusive), and the frames of the idp package.
Sampling costs CPU on the generator core, so figures of a profiled run are marked as such.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def executable() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


KINDS = {
    # Where the workers' threads are, whether they run or wait in a system call (argon2id and RSA run
    # in C without the GIL, database commits wait on the disk): idle threads are left out.
    "wall": ["--rate", "100", "--nonblocking"],
    # Only the thread holding the GIL: where the Python code itself spends the one core.
    "gil": ["--rate", "100", "--nonblocking", "--gil"],
}


def start(pid: int, seconds: float, output_stem: Path) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    """One py-spy per kind of profile, each writing <stem>-<kind>.txt; empty when py-spy is missing."""
    tool = executable()
    if tool is None:
        return []
    started = []
    for kind, options in KINDS.items():
        output = output_stem.with_name(f"{output_stem.name}-{kind}.txt")
        command = [tool, "record", "--pid", str(pid), "--subprocesses", "--duration", str(max(1, round(seconds))),
                   *options, "--format", "raw", "--output", str(output)]
        started.append((kind, output, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                       start_new_session=True)))
    return started


def finish(samplers: list[tuple[str, Path, subprocess.Popen[bytes]]], summary: Path, timeout: float) -> bool:
    """Wait for the samplers and write the summary of what they recorded; False when there is nothing."""
    parts = []
    for kind, output, process in samplers:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if output.exists():
            parts.append(f"=== {kind}: {HEADERS[kind]}\n\n{summarise(output.read_text(errors='replace'))}")
    if not parts:
        return False
    summary.write_text("\n".join(parts))
    return True


HEADERS = {
    "wall": "the workers' threads that run or wait in a system call, 100 samples/s (idle threads left out)",
    "gil": "the thread holding the GIL, 100 samples/s: the Python code's own use of the core",
}


def _frame(text: str) -> str:
    return text.strip()


def summarise(collapsed: str, top: int = 25) -> str:
    """Self and inclusive shares of the sampled frames, from py-spy's collapsed ("raw") stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        # The first frames are the process and the thread: keep the Python frames.
        frames = [f for f in frames if "(" in f and ".py" in f] or frames
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples", "", f"self time (top {top}):"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in own.most_common(top)]
    lines += ["", f"inclusive time (top {top}):"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in inclusive.most_common(top)]
    ours = [(frame, n) for frame, n in inclusive.most_common() if "(idp/" in frame][:top]
    lines += ["", f"inclusive time in the idp package (top {top}):"]
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in ours]
    return "\n".join(lines) + "\n"
