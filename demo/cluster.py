"""`python -m demo.cluster` (`make cluster`): the demo served by two `idp serve` nodes behind HAProxy.

HAProxy on http://127.0.0.1:5000 balances round robin over two nodes (5101 and 5102, checked at
/readyz) that share PostgreSQL and Redis; the demo portals on 5001 and 5002 sign in through it.
PostgreSQL and Redis are the ones named by IDP_CLUSTER_DATABASE_URL and IDP_CLUSTER_REDIS_URL, else
a PostgreSQL cluster (initdb, kept in instance/cluster/postgres) and a redis-server of its own on
loopback ports 5433 and 6380. Ctrl-C, SIGTERM or SIGHUP stops everything it started.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from demo.__main__ import STOP_SIGNALS, _end, _Stop, _stop

STATE = Path("instance/cluster")
LB_PORT, NODE_PORTS, PORTAL_PORTS = 5000, (5101, 5102), (5001, 5002)
PG_PORT, REDIS_PORT = 5433, 6380


def haproxy_config(port: int, nodes: tuple[int, ...] | list[int]) -> str:
    """Round robin over the nodes, each checked at /readyz (a node without its database or Redis
    leaves the rotation), X-Forwarded-For added for `trusted_proxies`."""
    servers = "\n".join(f"    server node{index} 127.0.0.1:{node} check inter 1s fall 2 rise 1"
                        for index, node in enumerate(nodes, 1))
    return f"""global
    maxconn 512
defaults
    mode http
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 1
frontend idp
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
{servers}
"""


def _postgres(processes: list[subprocess.Popen[bytes]]) -> str:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        sys.exit("PostgreSQL's server is missing: apt-get install -y postgresql")
    directory = (STATE / "postgres").resolve()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if not (directory / "data").exists():
        directory.mkdir(parents=True, exist_ok=True)
        if as_user:
            shutil.chown(directory, "postgres")
        subprocess.run([*as_user, f"{binaries[-1]}/initdb", "-D", str(directory / "data"), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    processes.append(subprocess.Popen(
        [*as_user, f"{binaries[-1]}/postgres", "-D", str(directory / "data"), "-p", str(PG_PORT),
         "-c", "listen_addresses=127.0.0.1", "-k", str(directory)], start_new_session=True))
    _wait(lambda: subprocess.run([f"{binaries[-1]}/pg_isready", "-h", "127.0.0.1", "-p", str(PG_PORT)],
                                 capture_output=True, check=False).returncode == 0, "PostgreSQL")
    return f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres"


def _redis(processes: list[subprocess.Popen[bytes]]) -> str:
    processes.append(subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(STATE.resolve()),
         "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True))
    _wait(lambda: subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "ping"], capture_output=True, text=True,
                                 check=False).stdout.strip() == "PONG", "Redis")
    return f"redis://127.0.0.1:{REDIS_PORT}/0"


def _wait(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        time.sleep(0.2)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str]) -> int:
    base = argv[0] if argv else "config/demo.yaml"
    bin_dir = Path(sys.executable).parent
    STATE.mkdir(parents=True, exist_ok=True)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    processes: list[subprocess.Popen[bytes]] = []
    stopped = False
    try:
        database_url = os.environ.get("IDP_CLUSTER_DATABASE_URL") or _postgres(processes)
        redis_url = os.environ.get("IDP_CLUSTER_REDIS_URL") or _redis(processes)
        document = yaml.safe_load(Path(base).read_text(encoding="utf-8"))
        issuer = f"http://127.0.0.1:{LB_PORT}"
        # Both nodes read the instance folder's secret_key: sessions and keys sealed by one open on the other.
        document.update(issuer=issuer, database_url=database_url, redis_url=redis_url,
                        trusted_proxies=["127.0.0.1/32"])
        config = STATE / "idp.yaml"
        config.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
        idp = [str(bin_dir / "idp"), "--config", str(config)]
        subprocess.run([*idp, "db", "upgrade"], check=True)
        subprocess.run([*idp, "demo"], check=True)
        env = {**os.environ, "IDP_CONFIG": str(config)}
        for port in NODE_PORTS:
            processes.append(subprocess.Popen([*idp, "serve", "--port", str(port), "--workers", "2"],
                                              start_new_session=True, env=env))
        for port in NODE_PORTS:
            _wait(lambda port=port: _ready(port), f"the node on {port}")
        (STATE / "haproxy.cfg").write_text(haproxy_config(LB_PORT, NODE_PORTS))
        processes.append(subprocess.Popen(["haproxy", "-db", "-f", str(STATE / "haproxy.cfg")], start_new_session=True))
        ports = [str(port) for port in PORTAL_PORTS]
        for name in ("shop", "pricing"):
            processes.append(subprocess.Popen([sys.executable, "-m", "demo.portal", name, issuer, *ports],
                                              start_new_session=True, env=env))
        print(f"HAProxy {issuer} over nodes {', '.join(f'127.0.0.1:{p}' for p in NODE_PORTS)} · "
              f"shop http://127.0.0.1:{PORTAL_PORTS[0]} · pricing http://127.0.0.1:{PORTAL_PORTS[1]} "
              f"· metrics {', '.join(f'http://127.0.0.1:{p}/metrics' for p in NODE_PORTS)} (Ctrl-C stops)", flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(1)
    except _Stop:
        stopped = True
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        _end(list(reversed(processes)))
    return 0 if stopped else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
