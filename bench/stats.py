"""The pure part of the harness: percentiles, ratios, the targets of issue 6, the table, the JSON shape.

Nothing here starts a process or touches the network, so tests/unit/test_bench.py can check it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SCHEMA = 1

# The scenarios, in the order they run and print; the unit of each figure is per second.
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("discovery", "discovery documents/s (GET /.well-known/openid-configuration)"),
    ("jwks", "JWKS documents/s (GET /jwks)"),
    ("client_credentials", "client_credentials grants/s (Basic auth, RS256 JWT access token)"),
    ("refresh_token", "refresh_token grants/s (rotation on, ID token re-issued)"),
    ("signin", "complete sign-ins/s (authorize, login form, code, token; PKCE S256, argon2id)"),
)

RESULT_KEYS = ("schema", "date", "machine", "pinning", "settings", "versions", "generator", "argon2",
               "servers", "ratios", "targets", "notes")
SCENARIO_KEYS = ("available", "rate_per_s", "rate_per_cpu_s", "requests", "errors", "duration_s", "p50_ms", "p99_ms",
                 "server_cpu_pct", "server_core_busy_pct", "generator_cpu_pct", "generator_core_busy_pct", "note")

RSS_LIMIT_MB = 120.0
SIGNIN_SHARE_OF_ARGON2 = 0.85


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The pct-th percentile (0-100) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    if not 0 <= pct <= 100:
        raise ValueError("pct must be between 0 and 100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 in milliseconds, rounded to 0.01 ms, of latencies given in seconds."""
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {"p50_ms": ms(percentile(seconds, 50)), "p99_ms": ms(percentile(seconds, 99))}


def empty_scenario(note: str, available: bool = False) -> dict[str, Any]:
    """A scenario that was not measured, with the reason."""
    return dict.fromkeys(SCENARIO_KEYS) | {"available": available, "note": note}


def per_cpu_second(scenario: dict[str, Any]) -> float | None:
    """Completed operations per CPU-second of the server: robust to other processes sharing its core."""
    rate, share = scenario.get("rate_per_s"), scenario.get("server_cpu_pct")
    if not rate or not share:
        return None
    return round(rate / (share / 100), 1)


def ratio(ours: float | None, peer: float | None) -> float | None:
    if ours is None or peer is None or peer == 0:
        return None
    return round(ours / peer, 3)


def ratios(servers: dict[str, Any]) -> dict[str, Any]:
    """ours/peer for every rate (higher is better for us) and p99 (lower is better for us)."""
    ours = servers.get("ours", {}).get("scenarios", {})
    peer = servers.get("peer", {}).get("scenarios", {})
    out: dict[str, Any] = {}
    for name, _label in SCENARIOS:
        mine, theirs = ours.get(name, {}), peer.get(name, {})
        out[name] = {"rate": ratio(mine.get("rate_per_s"), theirs.get("rate_per_s")),
                     "p99": ratio(mine.get("p99_ms"), theirs.get("p99_ms")),
                     "per_cpu_s": ratio(mine.get("rate_per_cpu_s"), theirs.get("rate_per_cpu_s"))}
    return out


def _target(name: str, wanted: str, value: Any, ok: bool | None) -> dict[str, Any]:
    return {"name": name, "target": wanted, "value": value, "ok": ok}


CLEAN_CPU_PCT = 90.0  # a server with less of its core than this shared it with other processes


def _clean(*scenarios: dict[str, Any]) -> bool:
    return all((s.get("server_cpu_pct") or 0) >= CLEAN_CPU_PCT for s in scenarios)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets of issue 6, each with its measured value and whether it holds (None: not measured).

    "Per core" is the rate when each server had its core to itself; when it did not (other processes
    took part of it), the verdict rests on operations per CPU-second of the server process instead,
    which such sharing does not skew. Each target says which basis it used.
    """
    servers = result.get("servers", {})
    ours = servers.get("ours", {}).get("scenarios", {})
    peer = servers.get("peer", {}).get("scenarios", {})
    out = []
    for name in ("client_credentials", "refresh_token"):
        mine, theirs = ours.get(name, {}), peer.get(name, {})
        raw = ratio(mine.get("rate_per_s"), theirs.get("rate_per_s"))
        per_cpu = ratio(mine.get("rate_per_cpu_s"), theirs.get("rate_per_cpu_s"))
        basis, value = ("rate", raw) if _clean(mine, theirs) or per_cpu is None else ("per CPU-second", per_cpu)
        item = _target(f"{name} grants/s", ">= 1.0x the peer", {"ratio": raw, "ratio_per_cpu_s": per_cpu},
                       None if value is None else value >= 1.0)
        out.append(item | {"basis": basis})
    argon2 = result.get("argon2") or {}
    ceiling, ceiling_cpu = argon2.get("ours_verifications_per_s"), argon2.get("ours_verifications_per_cpu_s")
    signin = ours.get("signin", {})
    signins, signins_cpu = signin.get("rate_per_s"), signin.get("rate_per_cpu_s")
    share = round(signins / ceiling, 3) if signins is not None and ceiling else None
    share_cpu = round(signins_cpu / ceiling_cpu, 3) if signins_cpu is not None and ceiling_cpu else None
    argon2_clean = bool(ceiling and ceiling_cpu and ceiling >= CLEAN_CPU_PCT / 100 * ceiling_cpu)
    basis, value = (("rate", share) if (_clean(signin) and argon2_clean) or share_cpu is None
                    else ("per CPU-second", share_cpu))
    out.append(_target("complete sign-ins/s", f">= {SIGNIN_SHARE_OF_ARGON2:.0%} of argon2id alone on the core",
                       {"share": share, "share_per_cpu_s": share_cpu},
                       None if value is None else value >= SIGNIN_SHARE_OF_ARGON2) | {"basis": basis})
    for name, _label in SCENARIOS:
        mine, theirs = ours.get(name, {}).get("p99_ms"), peer.get(name, {}).get("p99_ms")
        ok = None if mine is None or theirs is None else mine <= theirs
        out.append(_target(f"p99 latency, {name}", "<= the peer's", {"ours_ms": mine, "peer_ms": theirs}, ok)
                   | {"basis": "measured" if _clean(ours.get(name, {}), peer.get(name, {})) else
                      "measured on a shared core"})
    rss = servers.get("ours", {}).get("rss_mb_per_worker") or []
    worst = max(rss) if rss else None
    out.append(_target("RSS per worker after the run", f"<= {RSS_LIMIT_MB:.0f} MB", worst,
                       None if worst is None else worst <= RSS_LIMIT_MB) | {"basis": "measured"})
    return out


def check_shape(result: dict[str, Any]) -> list[str]:
    """What is missing from a result document (empty when it has the expected shape)."""
    problems = [f"missing key {key}" for key in RESULT_KEYS if key not in result]
    for side, data in (result.get("servers") or {}).items():
        for name, _label in SCENARIOS:
            scenario = (data.get("scenarios") or {}).get(name)
            if scenario is None:
                problems.append(f"servers.{side}.scenarios.{name}: missing")
                continue
            problems.extend(f"servers.{side}.scenarios.{name}.{key}: missing"
                            for key in SCENARIO_KEYS if key not in scenario)
    return problems


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def format_table(result: dict[str, Any]) -> str:
    """The figures as a plain-text table, then the targets."""
    servers = result.get("servers", {})
    ours = servers.get("ours", {}).get("scenarios", {})
    peer = servers.get("peer", {}).get("scenarios", {})
    rates = result.get("ratios", {})
    lines = [f"{'scenario':<20}{'ours/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'peer/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
             f"{'rate x':>8}{'p99 x':>8}{'CPU-s x':>9}  notes"]
    for name, _label in SCENARIOS:
        mine, theirs, r = ours.get(name, {}), peer.get(name, {}), rates.get(name, {})
        notes = "; ".join(f"{who}: {s['note']}" for who, s in (("ours", mine), ("peer", theirs)) if s.get("note"))
        lines.append(
            f"{name:<20}{_num(mine.get('rate_per_s'), 1):>10}{_num(mine.get('p50_ms'), 2):>9}"
            f"{_num(mine.get('p99_ms'), 2):>9}{_num(theirs.get('rate_per_s'), 1):>10}"
            f"{_num(theirs.get('p50_ms'), 2):>9}{_num(theirs.get('p99_ms'), 2):>9}"
            f"{_num(r.get('rate'), 2):>8}{_num(r.get('p99'), 2):>8}{_num(r.get('per_cpu_s'), 2):>9}  {notes}")
    lines.append("rate x, p99 x: ours / peer (rate: higher is better for us; p99: lower). CPU-s x: ours / peer in "
                 "operations per CPU-second of the server process, which other load on its core does not skew.")
    argon2 = result.get("argon2") or {}
    lines.append(f"argon2id alone (m={argon2.get('memory_cost_kib')} KiB, t={argon2.get('time_cost')}, "
                 f"p={argon2.get('parallelism')}) on the server core: "
                 f"ours {_num(argon2.get('ours_verifications_per_s'), 1)}/s "
                 f"({_num(argon2.get('ours_verifications_per_cpu_s'), 1)} per CPU-s), "
                 f"peer {_num(argon2.get('peer_verifications_per_s'), 1)}/s "
                 f"({_num(argon2.get('peer_verifications_per_cpu_s'), 1)} per CPU-s)")
    generator = result.get("generator") or {}
    lines.append(f"load generator ceiling (wrk, 1 thread, core {result.get('pinning', {}).get('generator')}, "
                 f"trivial endpoint): {_num(generator.get('ceiling_per_s'), 0)} requests/s measured, "
                 f"{_num(generator.get('requests_per_wrk_cpu_s'), 0)} per CPU-second of wrk")
    for side in ("ours", "peer"):
        rss = servers.get(side, {}).get("rss_mb_per_worker")
        if rss is not None:
            idle = servers.get(side, {}).get("rss_mb_per_worker_idle") or []
            lines.append(f"RSS per worker after the run, {side}: {', '.join(f'{v:.1f} MB' for v in rss) or '-'}"
                         f" (after start: {', '.join(f'{v:.1f} MB' for v in idle) or '-'})")
    lines.extend(breakdown_lines(result))
    lines.append("")
    lines.append("targets (issue 6):")
    for item in result.get("targets", []):
        mark = {True: "ok  ", False: "MISS", None: "n/a "}[item["ok"]]
        value = item["value"]
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_num(v, 2)}" for k, v in value.items())
        basis = item.get("basis")
        basis = "" if basis in (None, "measured", "rate") else (
            f"; {basis}" if basis.startswith("measured") else f"; verdict on {basis}")
        lines.append(f"  [{mark}] {item['name']}: {item['target']} (measured: {_num(value, 3)}{basis})")
    return "\n".join(lines)


def _served_ms(result: dict[str, Any], side: str, name: str) -> float | None:
    """CPU milliseconds of the server per operation in a scenario (from operations per CPU-second)."""
    per_cpu_s = ((result.get("servers", {}).get(side, {}).get("scenarios") or {}).get(name) or {}).get("rate_per_cpu_s")
    return 1000 / per_cpu_s if per_cpu_s else None


def breakdown_lines(result: dict[str, Any]) -> list[str]:
    """Where ours spends the core per refresh and per sign-in (bench.breakdown), beside the served figures."""
    parts = result.get("breakdown") or {}
    if not parts:
        return []
    lines = ["where the time goes (ours, CPU ms per operation, in one process, one at a time; bench/breakdown.py):"]
    if parts.get("note"):
        return [*lines, f"  {parts['note']}"]
    refresh, signin = parts.get("refresh") or {}, parts.get("signin") or {}
    if refresh:
        floor = ""
        if refresh.get("storage_floor_ms") is not None:
            floor = (f" (the same SQL by sqlite3 alone: {_num(refresh['storage_floor_ms'], 2)} CPU, "
                     f"{_num(refresh['storage_floor_wall_ms'], 2)} wall, synchronous="
                     f"{refresh.get('storage_floor_synchronous')})")
        lines.append(f"  refresh_token: grant {_num(refresh.get('grant_ms'), 2)} = two RS256 signatures "
                     f"{_num(refresh.get('signatures_ms'), 2)} + storage {_num(refresh.get('storage_ms'), 2)}{floor}"
                     f" + the rest {_num(refresh.get('rest_ms'), 2)}; served: ours "
                     f"{_num(_served_ms(result, 'ours', 'refresh_token'), 2)}, peer "
                     f"{_num(_served_ms(result, 'peer', 'refresh_token'), 2)}")
    if signin:
        exchanges = ", ".join(f"{label} {_num(ms, 2)}" for label, ms in (signin.get("exchanges_ms") or {}).items())
        lines.append(f"  signin: argon2id {_num(signin.get('argon2id_ms'), 2)} + the rest "
                     f"{_num(signin.get('non_argon2id_ms'), 2)} ({exchanges}); 85 % of argon2id alone leaves the rest "
                     f"{_num(signin.get('non_argon2id_budget_for_85pct_ms'), 2)}; served: ours "
                     f"{_num(_served_ms(result, 'ours', 'signin'), 2)}, "
                     f"peer {_num(_served_ms(result, 'peer', 'signin'), 2)}")
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The figures as a Markdown table, for quoting a run in the README."""
    servers = result.get("servers", {})
    ours = servers.get("ours", {}).get("scenarios", {})
    peer = servers.get("peer", {}).get("scenarios", {})
    rates = result.get("ratios", {})
    lines = ["| scenario | ours /s | p50 / p99 ms | peer /s | p50 / p99 ms | ours/peer rate | ours/peer p99 "
             "| ours/peer per CPU-s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, _label in SCENARIOS:
        mine, theirs, r = ours.get(name, {}), peer.get(name, {}), rates.get(name, {})
        lines.append(f"| {name} | {_num(mine.get('rate_per_s'), 1)} | {_num(mine.get('p50_ms'), 1)} / "
                     f"{_num(mine.get('p99_ms'), 1)} | {_num(theirs.get('rate_per_s'), 1)} | "
                     f"{_num(theirs.get('p50_ms'), 1)} / {_num(theirs.get('p99_ms'), 1)} | {_num(r.get('rate'), 2)} | "
                     f"{_num(r.get('p99'), 2)} | {_num(r.get('per_cpu_s'), 2)} |")
    extra = breakdown_lines(result)
    if extra:
        lines += ["", extra[0], "", *(f"- {line.strip()}" for line in extra[1:])]
    return "\n".join(lines) + "\n"
