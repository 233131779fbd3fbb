"""`python -m bench --soak` (`make bench BENCH_ARGS=--soak`): a bounded soak of two nodes behind HAProxy.

Starts what `make cluster` runs, with demo/cluster.py's own functions, in a temporary folder and
on free loopback ports: a PostgreSQL cluster and a redis-server of its own (never the machine's),
two `idp serve` nodes of two granian workers sharing them, configured as the benchmark's server
(bench/servers.py: the same two clients, one user, argon2id at the same parameters), and HAProxy
round robin over the nodes. Then --concurrency clients (a thread each, over HAProxy) repeat a mix
of operations for --soak-seconds (default 180), or until MAX_RATE x seconds operations were sent:

  discovery, jwks      GET the discovery document, the JWKS
  client_credentials   POST /token, client_secret_basic
  refresh_token        POST /token with the client's refresh token, rotated: each answer's is spent next
  userinfo             GET /userinfo with the client's latest access token
  signin               /authorize (PKCE S256), login form, code, /token (bench/signin.py); the client
                       keeps its tokens (a client without any signs in first)

Every HTTP status is counted per operation, and every few seconds the RSS of each granian worker
of both nodes (the children of each node's process, from /proc) is sampled. The run fails (exit 1,
and says why) on any 5xx answer or connection error, a node or worker that died, or a worker whose
RSS grew: the mean of the last third of the run over that of the second third (the first third is
the warm-up) by more than RSS_GROWTH_PCT. The figures go to bench/results/latest.json (key `soak`),
soak-DATE.json and soak-latest.md.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml

import demo.cluster as cluster
from bench import signin, stats, system
from bench.run import log, save_mode, versions
from bench.servers import ROOT, Argon2Params, Ours, _idp_executable
from demo.__main__ import _end

# The mix, in shares of the operations: sign-ins are few but cost most (argon2id).
MIX = {"discovery": 10, "jwks": 10, "client_credentials": 30, "refresh_token": 25, "userinfo": 20, "signin": 5}
MAX_RATE = 2_000  # operations/s: with --soak-seconds, the bound on the count
NODES, WORKERS = 2, 2
RSS_GROWTH_PCT = 10.0
TIMEOUT = 30  # seconds per request: HAProxy's own server timeout
SCOPE = "openid offline_access"


# --- the verdicts (pure: tests/unit/test_bench.py) ----------------------------------------------


def rss_verdict(series: dict[str, list[tuple[float, float]]], duration: float,
                threshold_pct: float = RSS_GROWTH_PCT) -> dict[str, Any]:
    """Per worker, the mean RSS over the second and the last third of the run (the first third is the
    warm-up) and whether it grew by more than threshold_pct; `flat` is None for a worker with fewer
    than two samples in either third (too short a run, or a worker that was replaced)."""
    workers: dict[str, Any] = {}
    for name, samples in series.items():
        middle = [mb for t, mb in samples if duration / 3 <= t < 2 * duration / 3]
        last = [mb for t, mb in samples if t >= 2 * duration / 3]
        if len(middle) < 2 or len(last) < 2:
            workers[name] = {"second_third_mb": None, "last_third_mb": None, "growth_pct": None, "flat": None}
            continue
        before, after = statistics.mean(middle), statistics.mean(last)
        growth = 100 * (after - before) / before
        workers[name] = {"second_third_mb": round(before, 1), "last_third_mb": round(after, 1),
                         "growth_pct": round(growth, 1), "flat": growth <= threshold_pct}
    judged = [worker["flat"] for worker in workers.values() if worker["flat"] is not None]
    return {"threshold_pct": threshold_pct, "flat": all(judged) if judged else None, "workers": workers}


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """5xx answers, connection errors, dead nodes or workers, the RSS verdict, and why the soak failed
    (`failures`, empty when it passed)."""
    kinds = result["operations"]
    server_errors = sum(n for kind in kinds.values() for status, n in kind["statuses"].items() if int(status) >= 500)
    connection_errors = sum(kind["connection_errors"] for kind in kinds.values())
    replaced = max(0, len(result["rss"]["series"]) - NODES * WORKERS)
    grown = [name for name, worker in result["rss"]["workers"].items() if worker["flat"] is False]
    out = []
    if server_errors:
        out.append(f"5xx answers: {server_errors}")
    if connection_errors:
        out.append(f"connection errors: {connection_errors}")
    if not sum(kind["count"] for kind in kinds.values()):
        out.append("no operation completed")
    if not result.get("nodes_alive_at_end", True):
        out.append("a node exited")
    if replaced:
        out.append(f"workers replaced (one died): {replaced}")
    if grown:
        out.append(f"RSS grew by more than {result['rss']['threshold_pct']:g} % in {', '.join(grown)}")
    return {"server_errors": server_errors, "connection_errors": connection_errors, "workers_replaced": replaced,
            "rss_flat": result["rss"]["flat"], "passed": not out, "failures": out}


def table(result: dict[str, Any]) -> str:
    """The figures in Markdown: operations, then the RSS series and the verdict."""
    lines = ["| operation | count | /s | p50 ms | p99 ms | HTTP statuses | connection errors |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for name, kind in result["operations"].items():
        statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(kind["statuses"].items())) or "-"
        lines.append(f"| {name} | {kind['count']:,} | {kind['rate_per_s']} | {kind['p50_ms']} | {kind['p99_ms']} "
                     f"| {statuses} | {kind['connection_errors']} |")
    lines += [f"- {name}: {kind['failed']:,} did not answer as expected, the first: {kind['first_failure']}"
              for name, kind in result["operations"].items() if kind.get("failed")]
    rss = result["rss"]
    lines += ["", f"RSS per worker (MB), every {rss['interval_s']:g} s; the mean of the last third against the "
                  f"second's (flat within +{rss['threshold_pct']:g} %):", ""]
    for name, samples in rss["series"].items():
        worker = rss["workers"].get(name, {})
        judged = {True: "flat", False: "GROWING", None: "not judged"}[worker.get("flat")]
        lines.append(f"- {name}: {worker.get('second_third_mb')} -> {worker.get('last_third_mb')} MB "
                     f"({worker.get('growth_pct')} %, {judged}): {' '.join(f'{mb:.0f}' for _t, mb in samples)}")
    failed = result["verdicts"]["failures"]
    lines += ["", f"verdict: {'FAILED: ' + '; '.join(failed) if failed else 'passed'}"]
    return "\n".join(lines)


# --- the load -------------------------------------------------------------------------------------


class Tally:
    """Every answer and operation of the client threads, per operation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[str, dict[str, int]] = {kind: {} for kind in MIX}
        self.requests = dict.fromkeys(MIX, 0)
        self.connection_errors = dict.fromkeys(MIX, 0)
        self.latencies: dict[str, list[float]] = {kind: [] for kind in MIX}
        self.unexpected: dict[str, list[str]] = {kind: [] for kind in MIX}

    def answer(self, kind: str, status: int) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.statuses[kind][str(status)] = self.statuses[kind].get(str(status), 0) + 1

    def done(self, kind: str, seconds: float, problem: str | None, connection: bool = False) -> None:
        with self.lock:
            if connection:
                self.connection_errors[kind] += 1
            if problem is None:
                self.latencies[kind].append(seconds)
            else:
                self.unexpected[kind].append(problem[:200])

    def summary(self, duration: float) -> dict[str, Any]:
        with self.lock:
            return {kind: {"count": len(done), "rate_per_s": round(len(done) / duration, 1),
                           **stats.latency_summary(done), "requests": self.requests[kind],
                           "statuses": dict(self.statuses[kind]), "connection_errors": self.connection_errors[kind],
                           "failed": len(self.unexpected[kind]), "first_failure": (self.unexpected[kind] or [None])[0]}
                    for kind, done in self.latencies.items()}


class Client:
    """One client of the mix: its own connections, the tokens of its latest sign-in or refresh."""

    def __init__(self, server: Ours, tally: Tally) -> None:
        self.server, self.tally, self.kind = server, tally, "discovery"
        self.session = requests.Session()
        self.session.hooks["response"].append(self.record)
        self.refresh: str | None = None
        self.access: str | None = None

    def record(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self.tally.answer(self.kind, response.status_code)

    def run(self, kind: str) -> None:
        if kind in ("refresh_token", "userinfo") and self.access is None:
            self.run("signin")
        self.kind, started = kind, time.perf_counter()
        try:
            problem = getattr(self, kind)()
        except requests.RequestException as exc:
            self.tally.done(kind, 0, f"{type(exc).__name__}: {exc}", connection=True)
            self.refresh = self.access = None
            time.sleep(0.05)  # a failing server must not turn this into a busy loop
            return
        except (signin.SignInError, ValueError, KeyError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None and kind in ("refresh_token", "userinfo", "signin"):
            self.refresh = self.access = None  # sign in again next time
        self.tally.done(kind, time.perf_counter() - started, problem)

    def _answer(self, response: requests.Response, what: str) -> str | None:
        return None if response.status_code == 200 else f"{what}: {response.status_code} {response.text[:120]}"

    def discovery(self) -> str | None:
        return self._answer(self.session.get(self.server.base_url + self.server.discovery_path, timeout=TIMEOUT),
                            "discovery")

    def jwks(self) -> str | None:
        return self._answer(self.session.get(self.server.base_url + self.server.jwks_path, timeout=TIMEOUT), "jwks")

    def _token(self, data: dict[str, str]) -> requests.Response:
        return self.session.post(self.server.base_url + self.server.token_path, data=data, timeout=TIMEOUT,
                                 auth=(self.server.app.client_id, self.server.app.secret))

    def client_credentials(self) -> str | None:
        return self._answer(self._token({"grant_type": "client_credentials"}), "client_credentials")

    def refresh_token(self) -> str | None:
        response = self._token({"grant_type": "refresh_token", "refresh_token": self.refresh or ""})
        problem = self._answer(response, "refresh_token")
        if problem is None:
            body = response.json()
            self.refresh, self.access = body["refresh_token"], body["access_token"]
        return problem

    def userinfo(self) -> str | None:
        response = self.session.get(self.server.base_url + "/userinfo", timeout=TIMEOUT,
                                    headers={"Authorization": f"Bearer {self.access}"})
        return self._answer(response, "userinfo") or (None if response.json().get("sub") else "userinfo: no sub")

    def signin(self) -> str | None:
        body = signin.sign_in(self.server.target, self.server.app, SCOPE, on_response=self.record)
        self.refresh, self.access = body["refresh_token"], body["access_token"]
        return None



def _sample_rss(nodes: list[tuple[str, system.Process]], series: dict[str, list[tuple[float, float]]],
                started: float, stop: threading.Event, interval: float) -> None:
    """The RSS of each node's workers (its process's children) every `interval` seconds, until stop."""
    while True:
        at = round(time.monotonic() - started, 1)
        for name, node in nodes:
            for pid in system.children(node.pid):
                mb = system.rss_mb(pid)
                if mb is not None:
                    series.setdefault(f"{name} worker {pid}", []).append((at, mb))
        if stop.wait(interval):
            return


def _load(server: Ours, nodes: list[tuple[str, system.Process]], concurrency: int, seconds: float) -> dict[str, Any]:
    """The mix from `concurrency` threads for `seconds` (or MAX_RATE x seconds operations), RSS sampled meanwhile."""
    tally, series, stop = Tally(), {}, threading.Event()
    interval = max(1.0, min(5.0, seconds / 36))
    budget, lock = [int(MAX_RATE * seconds)], threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def client() -> None:
        me = Client(server, tally)
        kinds, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            me.run(random.choices(kinds, weights)[0])
        me.session.close()

    sampler = threading.Thread(target=_sample_rss, args=(nodes, series, started, stop, interval), daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    next_report = started + 30
    while any(thread.is_alive() for thread in threads) and time.monotonic() < deadline + 2 * TIMEOUT:
        time.sleep(0.5)
        if time.monotonic() >= next_report:
            next_report += 30
            log(_progress(tally.summary(time.monotonic() - started), series, time.monotonic() - started, seconds))
    duration = time.monotonic() - started
    stop.set()
    sampler.join(timeout=10)
    series = {name: [(t, mb) for t, mb in points if t <= duration] for name, points in series.items()}
    return {"duration_s": round(duration, 1), "operations_bound": int(MAX_RATE * seconds),
            "operations": tally.summary(duration),
            "rss": {"interval_s": interval, "series": series} | rss_verdict(series, duration)}


def _progress(done: dict[str, Any], series: dict[str, list[tuple[float, float]]], elapsed: float,
              seconds: float) -> str:
    server_errors = sum(n for kind in done.values() for status, n in kind["statuses"].items() if int(status) >= 500)
    rss = ", ".join(f"{points[-1][1]:.0f}" for _name, points in list(series.items()))
    return (f"soak: {min(elapsed, seconds):.0f}/{seconds:g} s, {sum(kind['count'] for kind in done.values()):,} "
            f"operations, {server_errors} 5xx, {sum(kind['connection_errors'] for kind in done.values())} "
            f"connection errors; RSS of the workers {rss} MB")


# --- the cluster, the run -------------------------------------------------------------------------


def _missing() -> list[str]:
    tools = {"haproxy": "haproxy", "redis-server": "redis-server", "redis-cli": "redis-tools"}
    missing = [package for tool, package in tools.items() if shutil.which(tool) is None]
    return missing + ([] if glob.glob("/usr/lib/postgresql/*/bin/initdb") else ["postgresql"])


def _backends(folder: Path, processes: list[Any]) -> tuple[str, str]:
    """demo.cluster's PostgreSQL and Redis (what `make cluster` starts), in `folder` on free ports; they
    write to the output they inherit, here backends.log rather than the report's."""
    cluster.STATE, cluster.PG_PORT, cluster.REDIS_PORT = folder, system.free_port(), system.free_port()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with (folder / "backends.log").open("ab") as output:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        try:
            return cluster._postgres(processes), cluster._redis(processes)
        finally:
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def run(args: argparse.Namespace) -> int:
    missing = _missing()
    if missing:
        print(f"bench: the soak needs Debian's {' '.join(missing)}: apt-get install -y {' '.join(missing)} "
              "(make cluster installs them)", file=sys.stderr)
        return 2
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    result: dict[str, Any] = {
        "date": date, "machine": system.machine(), "versions": versions(),
        "settings": {"seconds": args.soak_seconds, "concurrency": args.concurrency, "mix_pct": MIX,
                     "nodes": NODES, "workers_per_node": WORKERS, "threads": args.threads or "idp serve's default",
                     "database": "postgresql (its own)", "store": "redis (its own)",
                     "balancer": "haproxy, round robin (demo/cluster.py)", "loopback": "127.0.0.1", "pinned": False},
    }
    saved = cluster.STATE, cluster.PG_PORT, cluster.REDIS_PORT
    with tempfile.TemporaryDirectory(prefix="idp-soak-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # PostgreSQL runs as its own user, in a folder below this one
        backends: list[Any] = []
        started: list[system.Process] = []
        try:
            log("soak: PostgreSQL and Redis of its own (demo/cluster.py)")
            database_url, redis_url = _backends(folder, backends)
            server = Ours(folder / "nodes", None, Argon2Params(), database_url=database_url, redis_url=redis_url,
                          workers=WORKERS, threads=args.threads)
            server.workdir.mkdir()
            server.prepare()  # its database, its configuration (issuer: HAProxy's address), its user
            config = yaml.safe_load(server.config_path.read_text())
            server.config_path.write_text(yaml.safe_dump(config | {"trusted_proxies": ["127.0.0.1/32"]}))
            ports = [system.free_port() for _ in range(NODES)]
            nodes = []
            for index, port in enumerate(ports, 1):
                command = [_idp_executable(), "--config", str(server.config_path), "serve", "--host", "127.0.0.1",
                           "--port", str(port), "--workers", str(WORKERS)]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                started.append(system.Process(command, folder / f"node{index}.log", ROOT))
                nodes.append((f"node{index}", started[-1]))
            for (_name, node), port in zip(nodes, ports, strict=True):
                system.wait_http(f"http://127.0.0.1:{port}/readyz", node)
            (folder / "haproxy.cfg").write_text(cluster.haproxy_config(server.port, ports))
            started.append(system.Process(["haproxy", "-db", "-f", str(folder / "haproxy.cfg")],
                                          folder / "haproxy.log", folder))
            system.wait_http(server.base_url + "/readyz", started[-1])
            log(f"soak: HAProxy {server.base_url} over nodes {', '.join(map(str, ports))}; "
                f"{args.concurrency} clients for {args.soak_seconds:g} s")
            result |= _load(server, nodes, args.concurrency, args.soak_seconds)
            result["nodes_alive_at_end"] = all(node.alive() for _name, node in nodes)
        except KeyboardInterrupt:
            log("interrupted: stopping the soak's processes")
            return 130
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            log(f"soak: FAILED to start: {str(exc)[-1500:]}")
            return 1
        finally:
            for process in reversed(started):
                process.stop()
            _end(list(reversed(backends)))
            cluster.STATE, cluster.PG_PORT, cluster.REDIS_PORT = saved
    result["verdicts"] = verdicts(result)
    text = table(result)
    print(text)
    save_mode("soak", result, text, args.output)
    return 0 if result["verdicts"]["passed"] else 1
