"""`python -m bench` (`make bench`): measure ours and the peer, print the table, write the JSON.

Options (each also from the environment):
  --duration S       seconds per scenario (IDP_BENCH_DURATION, default 10)
  --concurrency N    concurrent clients (IDP_BENCH_CONCURRENCY, default 32)
  --quick            2 s per scenario (5 s for sign-ins), a smoke run (IDP_BENCH_QUICK=1)
  --no-peer          skip the peer (IDP_BENCH_NO_PEER=1)
  --workers/--threads  granian workers and request threads of ours (IDP_BENCH_WORKERS, IDP_BENCH_THREADS)
  --repeat N         run each scenario N times per server, alternating, keep the best (IDP_BENCH_REPEAT)
  --only a,b         run only these scenarios (discovery, jwks, client_credentials, refresh_token, signin)
  --output DIR       where the JSON goes (default bench/results)
  --profile          sample ours with py-spy in each scenario (IDP_BENCH_PROFILE=1); see bench/profile.py
  --scale            instead: pages and grants at data scale (bench/scale.py; IDP_BENCH_DATABASE_URL for PostgreSQL)
  --soak             instead: a mixed load on two nodes behind HAProxy, RSS sampled (bench/soak.py; IDP_BENCH_SOAK=1)
  --soak-seconds S   how long the soak lasts (IDP_BENCH_SOAK_SECONDS, default 180); implies --soak
IDP_BENCH_DATABASE_URL and IDP_BENCH_REDIS_URL select PostgreSQL and Redis (several granian
workers); without them ours runs on the embedded default (SQLite, in-process store, 1 worker).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

from bench import profile, signin, stats, system, wrk
from bench.servers import ROOT, Argon2Params, Ours, Peer, Server

RESULTS = ROOT / "bench" / "results"
SERVER_CORE, GENERATOR_CORE = 0, 1
SIGNIN_MIN_DURATION = 5.0  # seconds, even in --quick
MAX_RATE = 200_000  # requests/s: with the duration, the count bound of every wrk run


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=float(os.environ.get("IDP_BENCH_DURATION", 10)))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("IDP_BENCH_CONCURRENCY", 32)))
    parser.add_argument("--quick", action="store_true", default=_env_flag("IDP_BENCH_QUICK"))
    parser.add_argument("--no-peer", action="store_true", default=_env_flag("IDP_BENCH_NO_PEER"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("IDP_BENCH_WORKERS", 0)) or None)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("IDP_BENCH_THREADS", 0)) or None)
    parser.add_argument("--only", default=os.environ.get("IDP_BENCH_ONLY", ""))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("IDP_BENCH_REPEAT", 1)),
                        help="run every scenario N times on each server, alternating, and keep the best")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true", default=_env_flag("IDP_BENCH_PROFILE"),
                        help="sample ours with py-spy during each scenario (bench/results/profile-*.txt)")
    parser.add_argument("--scale", action="store_true", default=_env_flag("IDP_BENCH_SCALE_RUN"),
                        help="seed a few years of data and time every page and grant (bench/scale.py)")
    parser.add_argument("--soak", action="store_true", default=_env_flag("IDP_BENCH_SOAK"),
                        help="mixed load on two nodes behind HAProxy, every status and RSS recorded (bench/soak.py)")
    parser.add_argument("--soak-seconds", type=float, default=os.environ.get("IDP_BENCH_SOAK_SECONDS"))
    args = parser.parse_args(argv)
    args.generator_ceiling = None
    args.soak = args.soak or args.soak_seconds is not None
    args.soak_seconds = float(args.soak_seconds or 180)
    if not 10 <= args.soak_seconds <= 7200:
        parser.error("--soak-seconds must be between 10 and 7200")
    if args.quick:
        args.duration = 2.0
    if not 0.5 <= args.duration <= 600:
        parser.error("--duration must be between 0.5 and 600 seconds")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be between 1 and 10")
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be between 1 and 1024")
    names = [name for name, _label in stats.SCENARIOS]
    args.only = [s.strip() for s in args.only.split(",") if s.strip()] or names
    unknown = [s for s in args.only if s not in names]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- scenarios -------------------------------------------------------------------------------


def _basic(client: signin.Client) -> str:
    raw = f"{client.client_id}:{client.secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _is_jwt(value: Any) -> bool:
    """A compact JWS signed RS256, as both servers are configured to issue access tokens."""
    if not isinstance(value, str) or value.count(".") != 2:
        return False
    header = value.split(".", 1)[0]
    try:
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg") == "RS256"
    except (ValueError, AttributeError):
        return False


def _probe(server: Server, name: str) -> str | None:
    """One request checked for the right answer before a scenario is timed; None when it is good."""
    url = server.base_url
    try:
        if name == "discovery":
            r = requests.get(url + server.discovery_path, timeout=10)
            if r.status_code != 200 or r.json().get("issuer") != server.base_url:
                return f"discovery answered {r.status_code}"
        elif name == "jwks":
            r = requests.get(url + server.jwks_path, timeout=10)
            if r.status_code != 200 or not r.json().get("keys"):
                return f"JWKS answered {r.status_code}"
        elif name == "client_credentials":
            r = requests.post(url + server.token_path, data={"grant_type": "client_credentials"},
                              auth=(server.app.client_id, server.app.secret), timeout=10)
            if r.status_code != 200:
                return f"client_credentials answered {r.status_code} {r.text[:160]}"
            if not _is_jwt(r.json().get("access_token")):
                return "client_credentials: the access token is not an RS256 JWT"
    except (requests.RequestException, ValueError) as exc:
        return f"{name}: {exc}"
    return None


def _measure(server: Server, fn: Any, args: argparse.Namespace | None = None, name: str = "") -> dict[str, Any]:
    """Run fn and say how busy the two cores were, and how much of that was the server and the generator.

    The generator's own share is the CPU time of this process and its finished children (wrk, the
    sign-in threads); the server's is that of its processes. A core much busier than its process
    was used by something else on the machine: the figures of that scenario are noisy.
    """
    pids = sorted({server.process.pid, *server.worker_pids()}) if server.process is not None else []
    before, server_before = system.cpu_times(), system.process_cpu_seconds(pids)
    self_before = os.times()
    samplers: list[Any] = []
    if args is not None and args.profile and isinstance(server, Ours) and server.process is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        samplers = profile.start(server.process.pid, args.duration, args.output / f"profile-{name}")
    started = time.monotonic()
    try:
        figures = fn()
    finally:
        wall = time.monotonic() - started
        summary = args.output / f"profile-{name}-summary.txt" if args is not None else None
        if samplers and summary is not None and profile.finish(samplers, summary, timeout=30):
            figures_profile = str(summary.relative_to(ROOT) if summary.is_relative_to(ROOT) else summary)
        else:
            figures_profile = None
    if figures_profile:
        figures["profile"] = figures_profile
    self_after = os.times()
    after, server_after = system.cpu_times(), system.process_cpu_seconds(pids)
    generator_seconds = sum(a - b for a, b in zip(self_after[:4], self_before[:4], strict=True))
    figures["server_cpu_pct"] = round(100 * (server_after - server_before) / wall, 1) if pids else None
    figures["server_cpu_s"] = round(server_after - server_before, 3) if pids else None
    figures["generator_cpu_pct"] = round(100 * generator_seconds / wall, 1)
    figures["server_core_busy_pct"] = system.busy_pct(before, after, server.core)
    figures["generator_core_busy_pct"] = system.busy_pct(
        before, after, GENERATOR_CORE if server.core is not None else None)
    return figures


def _wrk_scenario(server: Server, name: str, lua: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    figures = _measure(server, lambda: wrk.run(server.base_url, lua, duration=args.duration,
                                                     connections=args.concurrency, workdir=workdir,
                                                     name=f"{server.name}-{name}"), args, name)
    raw = figures.pop("wrk")
    result = stats.empty_scenario(None, available=True) | figures
    notes = []
    if raw.get("exhausted"):
        notes.append(f"{raw['exhausted']} requests found no fresh refresh token")
    if figures["errors"]:
        notes.append(f"{figures['errors']} errors (non-2xx/3xx, socket or bad bodies)")
    result["note"] = "; ".join(notes) or None
    result["generator"] = "wrk"
    return result


def simple_scenario(server: Server, name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    problem = _probe(server, name)
    if problem is not None:
        return stats.empty_scenario(f"not available: {problem}")
    max_requests = int(MAX_RATE * args.duration)
    if name in ("discovery", "jwks"):
        path = server.discovery_path if name == "discovery" else server.jwks_path
        lua = wrk.script("get", path=path, max_requests=max_requests)
    else:
        lua = wrk.script("post", path=server.token_path, max_requests=max_requests, auth=_basic(server.app),
                         body="grant_type=client_credentials")
    return _wrk_scenario(server, name, lua, args, workdir)


def refresh_scenario(server: Server, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Rotation on: 2 x concurrency families, each from one real sign-in; wrk spends each token once."""
    count = 2 * args.concurrency + 1  # one family is spent on checking that rotation is on
    started = time.monotonic()
    tokens, errors = signin.mint_refresh_tokens(server.target, server.app, scope="openid offline_access",
                                                count=count, concurrency=args.concurrency,
                                                timeout=max(60.0, 10 * args.duration))
    if len(tokens) < args.concurrency:
        return stats.empty_scenario(f"not available: {len(tokens)} of {count} refresh tokens minted"
                                    f"{'; ' + errors[0] if errors else ''}")
    log(f"{server.name}: {len(tokens)} refresh-token families minted in {time.monotonic() - started:.1f} s")
    # One rotation outside the window checks the answer: a new refresh token and a JWT access token.
    first = tokens.pop()
    try:
        r = requests.post(server.base_url + server.token_path,
                          data={"grant_type": "refresh_token", "refresh_token": first},
                          auth=(server.app.client_id, server.app.secret), timeout=30)
        body = r.json()
    except (requests.RequestException, ValueError) as exc:
        return stats.empty_scenario(f"not available: refresh probe failed: {exc}")
    if r.status_code != 200 or not body.get("refresh_token") or body["refresh_token"] == first:
        return stats.empty_scenario(f"not available: refresh answered {r.status_code} {r.text[:160]}")
    if not _is_jwt(body.get("access_token")):
        return stats.empty_scenario("not available: the refreshed access token is not an RS256 JWT")
    # Rotation is on: the spent token is refused now (and its family revoked, so it is dropped).
    try:
        reuse = requests.post(server.base_url + server.token_path,
                              data={"grant_type": "refresh_token", "refresh_token": first},
                              auth=(server.app.client_id, server.app.secret), timeout=30)
    except requests.RequestException as exc:
        return stats.empty_scenario(f"not available: refresh reuse probe failed: {exc}")
    if reuse.status_code == 200:
        return stats.empty_scenario("not available: a spent refresh token was accepted again (rotation off?)")
    tokens_path = workdir / f"{server.name}-refresh-tokens.txt"
    tokens_path.write_text("\n".join(tokens) + "\n")
    tokens_path.chmod(0o600)
    lua = wrk.script("refresh", path=server.token_path, max_requests=int(MAX_RATE * args.duration),
                     auth=_basic(server.app), tokens=tokens_path)
    result = _wrk_scenario(server, "refresh_token", lua, args, workdir)
    result["families"] = len(tokens)
    result["rotation_checked"] = "a spent refresh token is refused"
    return result


def signin_scenario(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    try:
        signin.sign_in(server.target, server.mobile, "openid")
    except (signin.SignInError, requests.RequestException, ValueError, KeyError) as exc:
        return stats.empty_scenario(f"not available: {str(exc)[:200]}")
    # A sign-in under load of 32 takes seconds: a window shorter than 5 s would hold next to none.
    duration = max(args.duration, SIGNIN_MIN_DURATION)
    figures = _measure(server, lambda: signin.run_load(
        server.target, server.mobile, scope="openid", concurrency=args.concurrency, duration=duration,
        max_signins=int(1000 * duration)), args, "signin")
    latencies = figures.pop("latencies")
    errors = figures.pop("errors")
    duration = figures["duration_s"]
    result = stats.empty_scenario(None, available=True) | figures | stats.latency_summary(latencies)
    result.update({
        "rate_per_s": round(len(latencies) / duration, 2) if duration > 0 else None,
        "requests": len(latencies),
        "errors": len(errors),
        "duration_s": round(duration, 2),
        "generator": "python (requests, one thread per client)",
        "latency_of": "a whole sign-in (5 HTTP requests)",
    })
    notes = []
    if errors:
        notes.append(f"{len(errors)} failed sign-ins, first: {errors[0][:160]}")
    if not latencies:
        notes.append("no sign-in ended in the window: use a longer --duration")
    result["note"] = "; ".join(notes) or None
    return result


def _annotate(scenario: dict[str, Any], ceiling: float | None) -> None:
    """Say when a figure is suspect: the server shared its core, or the generator neared its ceiling."""
    notes = [scenario["note"]] if scenario.get("note") else []
    own, busy = scenario.get("server_cpu_pct"), scenario.get("server_core_busy_pct")
    if own is not None and busy is not None and busy >= 90 and own < busy - 15:
        notes.append(f"core shared (server had {own:.0f} %)")
    generator = scenario.get("generator_cpu_pct")
    if generator is not None and generator >= 70:
        notes.append(f"generator near its limit ({generator:.0f} % CPU)")
    rate = scenario.get("rate_per_s")
    if rate and ceiling and rate > 0.5 * ceiling:
        notes.append(f"above half the generator's ceiling ({ceiling:,.0f}/s)")
    scenario["note"] = "; ".join(notes) or None


def start_server(server: Server) -> dict[str, Any]:
    """Start a server; its entry in the result (scenarios all "not available" when it did not start)."""
    out: dict[str, Any] = {"describe": server.describe() if hasattr(server, "describe") else {}, "scenarios": {}}
    try:
        log(f"{server.name}: starting on {server.base_url} (core {server.core})")
        server.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported, and the run goes on
        server.stop()
        note = f"not available: did not start: {str(exc)[:400]}"
        log(f"{server.name}: {note}")
        out["scenarios"] = {name: stats.empty_scenario(note) for name, _label in stats.SCENARIOS}
        out["rss_mb_per_worker"] = None
        out["started"] = False
        return out
    out["started"] = True
    out["rss_mb_per_worker_idle"] = server.rss_mb_per_worker()
    return out


def run_scenario(server: Server, name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    log(f"{server.name}: {name} for {args.duration:g} s at {args.concurrency} clients")
    if name == "refresh_token":
        s = refresh_scenario(server, args, workdir)
    elif name == "signin":
        s = signin_scenario(server, args)
    else:
        s = simple_scenario(server, name, args, workdir)
    s["rate_per_cpu_s"] = stats.per_cpu_second(s)
    if s.get("available"):
        _annotate(s, args.generator_ceiling)
    log(f"{server.name}: {name}: {s['rate_per_s']}/s p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms "
        f"(CPU: server {s['server_cpu_pct']} % of its core, busy {s.get('server_core_busy_pct')} %; "
        f"generator {s['generator_cpu_pct']} %, its core busy {s.get('generator_core_busy_pct')} %)"
        f"{' - ' + s['note'] if s['note'] else ''}")
    return s


def best_of(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The try with the highest rate (interference only ever slows a server down), with every rate."""
    measured = [t for t in tries if t.get("rate_per_s") is not None]
    best = dict(max(measured, key=lambda t: t["rate_per_s"]) if measured else tries[-1])
    if len(tries) > 1:
        best["tries_rate_per_s"] = [t.get("rate_per_s") for t in tries]
    return best


def run_all(servers: list[tuple[Server, dict[str, Any]]], args: argparse.Namespace, workdir: Path) -> None:
    """Each scenario on every started server in turn (ours, then the peer), so that both meet the same
    conditions of the machine; then the RSS of each, and stop them."""
    for name, _label in stats.SCENARIOS:
        tries: dict[str, list[dict[str, Any]]] = {server.name: [] for server, _out in servers}
        for _round in range(args.repeat):
            for server, out in servers:
                if not out["started"]:
                    continue
                if name not in args.only:
                    out["scenarios"][name] = stats.empty_scenario("skipped (--only)")
                    continue
                if not server.process or not server.process.alive():
                    out["scenarios"][name] = stats.empty_scenario(
                        f"not available: the server exited: {server.process.log_tail(300) if server.process else ''}")
                    continue
                tries[server.name].append(run_scenario(server, name, args, workdir))
        for server, out in servers:
            if tries[server.name]:
                out["scenarios"][name] = best_of(tries[server.name])
    for server, out in servers:
        if out["started"]:
            out["rss_mb_per_worker"] = server.rss_mb_per_worker()
            out["workers"] = len(server.worker_pids())
        server.stop()


# --- the generator's own ceiling -------------------------------------------------------------

_TRIVIAL_NODE = ("require('http').createServer((q, s) => { s.writeHead(200, {'content-type': 'text/plain'}); "
                 "s.end('ok'); }).listen(Number(process.argv[1]), '127.0.0.1');")


def generator_ceiling(args: argparse.Namespace, workdir: Path, core: int | None) -> dict[str, Any]:
    """wrk against a trivial node HTTP server on the server core: far above any server figure here."""
    node = shutil.which("node")
    if node is None:
        return {"ceiling_per_s": None, "note": "node is missing: no trivial server to measure wrk against"}
    port = system.free_port()
    process = system.Process(system.pinned(core, [node, "-e", _TRIVIAL_NODE, str(port)]), workdir / "trivial.log",
                             workdir)
    try:
        system.wait_http(f"http://127.0.0.1:{port}/", process, timeout=30)
        seconds = min(args.duration, 5.0)
        lua = wrk.script("get", path="/", max_requests=int(MAX_RATE * seconds))
        before = os.times()
        figures = wrk.run(f"http://127.0.0.1:{port}", lua, duration=seconds, connections=args.concurrency,
                          workdir=workdir, name="trivial")
        after = os.times()
    except RuntimeError as exc:
        return {"ceiling_per_s": None, "note": str(exc)[:300]}
    finally:
        process.stop()
    wrk_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    per_cpu = round(figures["requests"] / wrk_cpu) if wrk_cpu > 0 else None
    return {"ceiling_per_s": figures["rate_per_s"], "requests_per_wrk_cpu_s": per_cpu, "p99_ms": figures["p99_ms"],
            "against": "node http 'ok' server on the server core", "tool": "wrk, 1 thread"}


# --- versions, output ------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version() -> str | None:
    executable = wrk.available()
    if executable is None:
        return None
    completed = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = (completed.stdout or completed.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else None


def _git_revision() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        completed = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                   text=True, timeout=30, check=False)
        return completed.stdout.strip() or None
    return None


def versions() -> dict[str, Any]:
    return {"python": platform.python_version(), "idp": _version("idp"), "git": _git_revision(),
            "granian": _version("granian"), "flask": _version("flask"), "authlib": _version("authlib"),
            "argon2_cffi": _version("argon2-cffi"), "wrk": _wrk_version(), **Peer.versions()}


def write_result(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2, sort_keys=False) + "\n"
    latest = directory / "latest.json"
    dated = directory / f"bench-{result['date'].replace(':', '').replace('-', '')[:15]}.json"
    latest.write_text(text)
    dated.write_text(text)
    latest.with_suffix(".md").write_text(stats.markdown(result))
    return latest, dated


def save_mode(key: str, result: dict[str, Any], text: str, directory: Path) -> None:
    """The result of another mode (--scale, --soak) under `key` in latest.json, and KEY-DATE.json, KEY-latest.md."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = result["date"].replace(":", "").replace("-", "")[:15]
    (directory / f"{key}-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    (directory / f"{key}-latest.md").write_text(text + "\n")
    latest = directory / "latest.json"
    document = json.loads(latest.read_text()) if latest.is_file() else {}
    document[key] = result
    latest.write_text(json.dumps(document, indent=2) + "\n")
    written = directory / f"{key}-{stamp}.json"
    print(f"written: {latest.relative_to(ROOT) if latest.is_relative_to(ROOT) else latest} (key {key}), "
          f"{written.relative_to(ROOT) if written.is_relative_to(ROOT) else written}")


def _stop_on_signals() -> None:
    """Ctrl-C or a TERM from make: unwind through the finally clauses so every process is stopped."""
    def _interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scale:
        from bench import scale

        return scale.run(args.output)
    if args.soak:
        from bench import soak

        _stop_on_signals()
        return soak.run(args)
    if wrk.available() is None:
        print("bench: wrk is missing; install it with `apt-get install -y wrk` (make bench does it).", file=sys.stderr)
        return 2
    if args.profile and profile.executable() is None:
        print("bench: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    available = system.cores()
    if len(available) >= 2 and {SERVER_CORE, GENERATOR_CORE} <= set(available):
        server_core, generator_core = SERVER_CORE, GENERATOR_CORE
    else:
        server_core = generator_core = None
        log(f"fewer than two usable cores ({available}): nothing is pinned")
    system.pin_self(generator_core)

    _stop_on_signals()

    argon2 = Argon2Params()
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    notes: list[str] = []
    result: dict[str, Any] = {
        "schema": stats.SCHEMA, "date": date, "machine": system.machine(),
        "pinning": {"server": server_core, "generator": generator_core,
                    "how": "sched_setaffinity on the server process (inherited by granian's workers) "
                           "and on the harness (inherited by wrk)"},
        "settings": {"duration_s": args.duration, "concurrency": args.concurrency, "quick": args.quick,
                     "profiled": args.profile,
                     "peer": not args.no_peer, "scenarios": args.only, "repeat": args.repeat,
                     "loopback": "127.0.0.1"},
        "versions": versions(), "generator": {}, "argon2": {}, "servers": {}, "ratios": {}, "targets": [],
        "notes": notes,
    }
    if args.profile:
        notes.append("profiled run: py-spy sampled ours from the generator core; figures are not comparable")
    database_url = os.environ.get("IDP_BENCH_DATABASE_URL") or None
    redis_url = os.environ.get("IDP_BENCH_REDIS_URL") or None
    if bool(database_url) != bool(redis_url):
        notes.append("only one of IDP_BENCH_DATABASE_URL and IDP_BENCH_REDIS_URL is set")
    if (args.workers or 1) > 1 and not redis_url:
        print("bench: more than one worker needs IDP_BENCH_REDIS_URL (the in-process store is per process).",
              file=sys.stderr)
        return 2
    result["machine"]["load_average_before"] = result["machine"].pop("load_average")

    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp:
        workdir = Path(tmp)
        started_servers: list[Server] = []
        try:
            log(f"load generator ceiling (wrk against a trivial server, {min(args.duration, 5.0):g} s)")
            result["generator"] = generator_ceiling(args, workdir, server_core)
            log(f"generator ceiling: {result['generator'].get('ceiling_per_s')} requests/s, "
                f"{result['generator'].get('requests_per_wrk_cpu_s')} per CPU-second of wrk")
            # What wrk can send with the core to itself: its requests per CPU-second on the trivial server.
            args.generator_ceiling = (result["generator"].get("requests_per_wrk_cpu_s")
                                      or result["generator"].get("ceiling_per_s"))

            ours = Ours(workdir / "ours-run", server_core, argon2, database_url=database_url, redis_url=redis_url,
                        workers=args.workers, threads=args.threads)
            ours.workdir.mkdir()
            started_servers.append(ours)
            seconds = min(max(args.duration / 2, 2.0), 5.0)
            log(f"argon2id alone on the server core ({seconds:g} s, m={argon2.memory_cost_kib} KiB, "
                f"t={argon2.time_cost}, p={argon2.parallelism})")
            ours_argon2 = ours.argon2_alone(seconds)
            result["argon2"] = {"memory_cost_kib": argon2.memory_cost_kib, "time_cost": argon2.time_cost,
                                "parallelism": argon2.parallelism, "ours_verifications_per_s": ours_argon2["per_s"],
                                "ours_verifications_per_cpu_s": ours_argon2.get("per_cpu_s"),
                                "ours_detail": ours_argon2}
            result["servers"]["ours"] = start_server(ours)
            running: list[tuple[Server, dict[str, Any]]] = [(ours, result["servers"]["ours"])]

            if args.no_peer:
                note = "skipped (--no-peer)"
                result["servers"]["peer"] = {"scenarios": {n: stats.empty_scenario(note) for n, _ in stats.SCENARIOS},
                                             "rss_mb_per_worker": None}
            else:
                try:
                    Peer.install()
                    peer = Peer(workdir / "peer-run", server_core, argon2)
                    peer.workdir.mkdir()
                    started_servers.append(peer)
                    log("argon2id alone on the server core, the peer's implementation")
                    peer_argon2 = peer.argon2_alone(seconds)
                    result["argon2"]["peer_verifications_per_s"] = peer_argon2["per_s"]
                    result["argon2"]["peer_verifications_per_cpu_s"] = peer_argon2.get("per_cpu_s")
                    result["argon2"]["peer_detail"] = peer_argon2
                    result["servers"]["peer"] = start_server(peer)
                    running.append((peer, result["servers"]["peer"]))
                except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                    note = f"not available: {str(exc)[:300]}"
                    log(f"peer: {note}")
                    result["servers"]["peer"] = {
                        "scenarios": {n: stats.empty_scenario(note) for n, _ in stats.SCENARIOS},
                        "rss_mb_per_worker": None}
            run_all(running, args, workdir)
            if {"refresh_token", "signin"} & set(args.only):
                log("ours: where the time goes, in one process on the server core (bench/breakdown.py)")
                parts = Ours(workdir / "ours-breakdown", server_core, argon2, database_url=database_url,
                             redis_url=redis_url, workers=1, threads=None)
                parts.workdir.mkdir()
                result["breakdown"] = parts.breakdown()
        except KeyboardInterrupt:
            log("interrupted: stopping the servers")
            return 130
        finally:
            for server in started_servers:
                server.stop()

    result["machine"]["load_average_after"] = list(os.getloadavg())
    result["ratios"] = stats.ratios(result["servers"])
    result["targets"] = stats.targets(result)
    shared = [f"{side} {name}" for side, data in result["servers"].items()
              for name, s in (data.get("scenarios") or {}).items()
              if s.get("available") and (s.get("server_cpu_pct") or 0) < stats.CLEAN_CPU_PCT]
    if shared:
        notes.append(f"other processes took part of the server core in: {', '.join(shared)}; "
                     "those figures are noisy (operations per CPU-second are less so)")
    notes.extend(f"result shape: {problem}" for problem in stats.check_shape(result))
    latest, dated = write_result(result, args.output)
    print()
    print(f"{date}  {result['machine']['uname_m']}  {result['machine']['cpu_model']}  "
          f"server core {server_core}, generator core {generator_core}; {args.duration:g} s per scenario, "
          f"{args.concurrency} clients")
    for side in ("ours", "peer"):
        describe = result["servers"].get(side, {}).get("describe")
        if describe:
            print(f"{side}: " + ", ".join(f"{key} {value}" for key, value in describe.items()))
    print(stats.format_table(result))
    for note in notes:
        print(f"note: {note}")
    print(f"\nwritten: {latest.relative_to(ROOT) if latest.is_relative_to(ROOT) else latest}, "
          f"{dated.relative_to(ROOT) if dated.is_relative_to(ROOT) else dated}")
    return 0
