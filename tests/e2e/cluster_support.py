"""Processes of a test's own on loopback: PostgreSQL (initdb into a temporary folder), Redis with
Sentinel, HAProxy, and provider nodes on them. Each can be stopped, killed and started again,
which the machine's shared services must never be."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from demo.cluster import haproxy_config  # what `make cluster` runs
from tests.conftest import Backend, base_config
from tests.e2e.conftest import IDP, ROOT, LiveServer, write_config
from tests.smtp import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def need(command: str, package: str) -> str:
    """The path of `command`, or a failure naming the Debian package (`make test` installs it)."""
    path = shutil.which(command) or (command if os.path.exists(command) else None)
    if path is None:
        raise AssertionError(f"{command} is missing (`make test` installs it): "
                             f"apt-get update && apt-get install -y {package}")
    return path


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (requests.ConnectionError, requests.Timeout, subprocess.SubprocessError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


class OwnPostgres:
    """A PostgreSQL cluster of the test's own, run as the `postgres` system user when root (the
    server refuses to run as root). Stopping it never touches the machine's PostgreSQL."""

    def __init__(self) -> None:
        if not PG_BIN:
            raise AssertionError("PostgreSQL's server is missing: apt-get update && apt-get install -y postgresql")
        self.bin = PG_BIN[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="idp-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, f"{self.bin}/{tool}", *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        for attempt in range(3):
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start")
                return
            except subprocess.CalledProcessError:
                # The port chosen was taken meanwhile by another test's server: another one.
                if attempt == 2:
                    raise
                self.port = free_port()
                self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisProcess:
    """redis-server (or, with `sentinel_of`, a Sentinel watching that primary) on a free loopback port."""

    def __init__(self, directory: Path, *, replica_of: int | None = None, sentinel_of: int | None = None) -> None:
        self.port = free_port()
        self.dir = directory / f"redis-{self.port}"
        self.dir.mkdir(parents=True)
        self.replica_of = replica_of
        self.sentinel_of = sentinel_of
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.dir}", 'save ""', "appendonly no"]
        if self.replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {self.replica_of}")
        command = [need("redis-server", "redis-server")]
        if self.sentinel_of is not None:
            # Sentinel rewrites its file: one per sentinel. One vote suffices on loopback; a second
            # without an answer marks the primary down.
            lines += [f"sentinel monitor mymaster 127.0.0.1 {self.sentinel_of} 1",
                      "sentinel down-after-milliseconds mymaster 1000", "sentinel failover-timeout mymaster 5000",
                      "sentinel parallel-syncs mymaster 1"]
            command = [need("redis-sentinel", "redis-sentinel")]
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen([*command, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The port was free when chosen, but another test's server may have taken it since: then ours
        # exits and theirs answers the ping. Only our own process (by its pid) will do.
        wait_until(lambda: self._ours() or self.process.poll() is not None, 10, f"redis on {self.port}")
        if not self._ours():
            self.process.wait(10)
            self.port = free_port()
            self.start()

    def _ours(self) -> bool:
        return self.process is not None and f"process_id:{self.process.pid}" in self.cli("info", "server")

    def cli(self, *args: str) -> str:
        return subprocess.run([need("redis-cli", "redis-tools"), "-p", str(self.port), *args], capture_output=True,
                              text=True, timeout=5, check=False).stdout.strip()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Haproxy:
    """HAProxy on a free loopback port, round-robin over the nodes, adding X-Forwarded-For."""

    def __init__(self, directory: Path, nodes: list[int], port: int | None = None) -> None:
        self.port = port or free_port()
        self.conf = directory / f"haproxy-{self.port}.cfg"
        self.conf.write_text(haproxy_config(self.port, nodes))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        haproxy = need("haproxy", "haproxy")
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(self.conf)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen([haproxy, "-db", "-f", str(self.conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_until(lambda: requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200,
                   15, "haproxy")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def node_config(directory: Path, *, database_url: str, redis_url: str | None, issuer: str,
                **overrides: Any) -> Path:
    """A provider configuration for nodes that share `database_url` and `redis_url`, migrated."""
    backend = Backend("own", database_url, redis_url)
    document = base_config(backend, directory, issuer=issuer, **overrides)
    document["store_prefix"] = "cluster:"
    if "mail" not in overrides:
        document["mail"] = {**document["mail"], "worker": True}
    path = write_config(directory / f"idp-{free_port()}.yaml", document)
    result = subprocess.run([IDP, "--config", str(path), "db", "upgrade"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    return path


def start_node(config_path: Path, directory: Path, workers: int = 1, port: int | None = None) -> LiveServer:
    port = port or free_port()
    server = LiveServer(config_path, port, directory / f"node-{port}.log", workers=workers)
    server.start()
    return server


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(session: requests.Session, url: str, login: str, password: str, **extra: str) -> requests.Response:
    page = session.get(url + "/login", timeout=10)
    assert page.status_code == 200, page.status_code
    return session.post(url + "/login", data={"csrf_token": csrf(page.text), "login": login, "password": password,
                                              **extra}, allow_redirects=False, timeout=10)


def kill_group(server: LiveServer, signum: int = signal.SIGKILL) -> None:
    if server.process is not None:
        os.killpg(server.process.pid, signum)
        server.process.wait(10)
        server.process = None
