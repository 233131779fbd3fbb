"""`make run`'s launcher (`python -m demo`): a stop signal ends the provider, its workers and both portals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SECRET_KEY
from tests.e2e.conftest import IDP, ROOT, write_config
from tests.smtp import free_port

pytestmark = pytest.mark.e2e


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through their parents in /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name, in parentheses, may hold spaces: the fields after it are fixed.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left for its parent


@pytest.fixture(scope="module")
def launcher_config(tmp_path_factory):
    """A configuration on free ports and its migrated database, shared by the signals' tests."""
    tmp_path = tmp_path_factory.mktemp("demo")
    ports = {"provider": free_port(), "shop": free_port(), "pricing": free_port()}
    clients = [{"client_id": name, "secret": f"{name}-demo-secret-0123456789",
                "redirect_uris": [f"http://127.0.0.1:{ports[name]}/callback"]} for name in ("shop", "pricing")]
    config = write_config(tmp_path / "demo.yaml", {
        "issuer": f"http://127.0.0.1:{ports['provider']}", "secret_key": SECRET_KEY,
        "database_url": f"sqlite:///{tmp_path / 'idp.sqlite3'}", "instance_path": str(tmp_path / "instance"),
        "mail": {"backend": "file", "worker": False}, "flows": ["login"], "clients": clients})
    upgraded = subprocess.run([IDP, "--config", str(config), "db", "upgrade"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, check=False)
    assert upgraded.returncode == 0, upgraded.stderr
    return config, ports


def _launch(config, ports, log, *, under_shell: bool = False) -> subprocess.Popen[bytes]:
    """`python -m demo` on the test's ports (under a shell that waits for it, as make does), once
    the provider and both portals listen."""
    command = [sys.executable, "-m", "demo", str(config), "--port", str(ports["provider"]),
               "--shop-port", str(ports["shop"]), "--pricing-port", str(ports["pricing"])]
    if under_shell:
        command = ["sh", "-c", '"$@"; exit $?', "sh", *command]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not all(_listening(port) for port in ports.values()):
        assert process.poll() is None, Path(log.name).read_text()
        assert time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.1)
    return process


def _kill_all(pids: set[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_ends_the_provider_and_both_portals(launcher_config, tmp_path, signum):
    config, ports = launcher_config
    children: set[int] = set()
    with (tmp_path / "launcher.log").open("wb") as log:
        launcher = _launch(config, ports, log)
        try:
            children = _descendants(launcher.pid)
            assert len(children) >= 4  # the provider, at least one granian worker, two portals

            os.kill(launcher.pid, signum)  # the launcher alone, as `kill` or a closing terminal would
            assert launcher.wait(timeout=30) == 0

            assert [pid for pid in children if _alive(pid)] == []
            assert [name for name, port in ports.items() if _listening(port)] == []
        finally:
            _kill_all(children | {launcher.pid})
            launcher.wait(timeout=10)


def test_the_end_of_the_parent_ends_them_too(launcher_config, tmp_path):
    """`make run` dies of a SIGHUP (or a SIGKILL) without passing it on: the launcher notices."""
    config, ports = launcher_config
    children: set[int] = set()
    with (tmp_path / "launcher.log").open("wb") as log:
        shell = _launch(config, ports, log, under_shell=True)
        try:
            children = _descendants(shell.pid)
            assert len(children) >= 5  # the launcher, the provider, a granian worker, two portals
            shell.kill()
            shell.wait(timeout=10)

            deadline = time.monotonic() + 30
            while any(_alive(pid) for pid in children):
                assert time.monotonic() < deadline, [pid for pid in children if _alive(pid)]
                time.sleep(0.1)
            assert [name for name, port in ports.items() if _listening(port)] == []
        finally:
            _kill_all(children)
