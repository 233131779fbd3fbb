"""The load generator of the simple scenarios: wrk (Debian's package), one thread, a Lua script.

Each run is bounded in time (wrk -d) and in request count (the script stops the thread after
max_requests responses). The script's done() prints one line of JSON with wrk's own counts and
latency percentiles (wrk measures each request from its write to the end of its response).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

MARK = "BENCH_JSON "

_COMMON = r"""
local max_requests = %(max_requests)d
local responses = 0
local bad_bodies = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function count(status, body)
  responses = responses + 1
  if responses >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local exhausted, bad = 0, 0
  for _, thread in ipairs(threads) do
    exhausted = exhausted + (thread:get("exhausted") or 0)
    bad = bad + (thread:get("bad_bodies") or 0)
  end
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,"errors_status":%%d,"errors_connect":%%d,' ..
    '"errors_read":%%d,"errors_write":%%d,"errors_timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%.1f,"exhausted":%%d,"bad_bodies":%%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    exhausted, bad))
end
"""

_GET = r"""
local path = %(path)s
function request()
  return wrk.format("GET", path)
end
function response(status, headers, body)
  count(status, body)
end
"""

_POST = r"""
local path = %(path)s
local body = %(body)s
local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = %(auth)s}
function request()
  return wrk.format("POST", path, headers, body)
end
function response(status, headers, body)
  count(status, body)
end
"""

# Refresh with rotation: every request spends a fresh token from the queue and the response's
# new token goes back into it, so no token is ever sent twice (a reuse would revoke its family).
_REFRESH = r"""
local path = %(path)s
local headers = {["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = %(auth)s}
local queue = {}
exhausted = 0
bad_bodies = 0
for line in io.lines(%(tokens)s) do
  if #line > 0 then table.insert(queue, line) end
end
function request()
  local token = table.remove(queue)
  if token == nil then
    exhausted = exhausted + 1
    token = "exhausted"
  end
  return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
end
function response(status, headers, body)
  local token = string.match(body, '"refresh_token"%%s*:%%s*"([^"]+)"')
  if token then
    table.insert(queue, token)
  elseif status == 200 then
    bad_bodies = bad_bodies + 1
  end
  count(status, body)
end
"""


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def available() -> str | None:
    return shutil.which("wrk")


def script(kind: str, *, path: str, max_requests: int, auth: str = "", body: str = "",
           tokens: Path | None = None) -> str:
    common = _COMMON % {"max_requests": max_requests, "mark": MARK}
    values = {"path": _lua_string(path), "auth": _lua_string(auth), "body": _lua_string(body),
              "tokens": _lua_string(str(tokens) if tokens else "")}
    templates = {"get": _GET, "post": _POST, "refresh": _REFRESH}
    return common + templates[kind] % values


def run(base_url: str, lua: str, *, duration: float, connections: int, workdir: Path, name: str) -> dict[str, Any]:
    """Run wrk with one thread; returns its figures (rate of successful responses, latencies in ms)."""
    executable = available()
    if executable is None:
        raise RuntimeError("wrk is missing: apt-get install -y wrk (make bench does it)")
    script_path = workdir / f"{name}.lua"
    script_path.write_text(lua)
    seconds = max(1, round(duration))
    command = [executable, "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(script_path), base_url]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(MARK):
            raw = json.loads(line[len(MARK):])
            break
    else:
        raise RuntimeError(f"wrk gave no figures (exit {completed.returncode}): {completed.stderr[-1000:]}"
                           f"{completed.stdout[-1000:]}")
    duration_s = raw["duration_us"] / 1e6
    errors = (raw["errors_status"] + raw["errors_connect"] + raw["errors_read"] + raw["errors_write"]
              + raw["errors_timeout"] + raw["bad_bodies"])
    ok = max(0, raw["requests"] - raw["errors_status"] - raw["bad_bodies"])
    return {
        "rate_per_s": round(ok / duration_s, 1) if duration_s > 0 else None,
        "requests": raw["requests"],
        "errors": errors,
        "duration_s": round(duration_s, 2),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "wrk": raw,
    }
