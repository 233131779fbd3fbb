"""The benchmark harness's pure parts: percentiles, ratios, targets and the result's shape (no timing here)."""

from bench import stats


def test_percentile_interpolates_between_ranks():
    assert stats.percentile([], 50) is None
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile(list(range(1, 101)), 99) == 99.01
    assert stats.percentile([5, 1, 3], 0) == 1
    assert stats.percentile([5, 1, 3], 100) == 5
    assert stats.latency_summary([0.010, 0.020, 0.030]) == {"p50_ms": 20.0, "p99_ms": 29.8}


def _scenario(rate, p99):
    return stats.empty_scenario(None, available=True) | {"rate_per_s": rate, "p99_ms": p99}


def test_ratios_targets_and_shape():
    names = [name for name, _label in stats.SCENARIOS]
    servers = {
        "ours": {"scenarios": {n: _scenario(100.0, 10.0) for n in names}, "rss_mb_per_worker": [80.0, 130.0]},
        "peer": {"scenarios": {n: _scenario(50.0, 20.0) for n in names} | {"jwks": stats.empty_scenario("down")},
                 "rss_mb_per_worker": [60.0]},
    }
    result = {key: {} for key in stats.RESULT_KEYS} | {"servers": servers, "argon2": {"ours_verifications_per_s": 110}}
    result["ratios"] = stats.ratios(servers)
    assert result["ratios"]["client_credentials"] == {"rate": 2.0, "p99": 0.5, "per_cpu_s": None}
    assert result["ratios"]["jwks"] == {"rate": None, "p99": None, "per_cpu_s": None}
    result["targets"] = stats.targets(result)
    verdicts = {item["name"]: item["ok"] for item in result["targets"]}
    assert verdicts["client_credentials grants/s"] is True
    assert verdicts["complete sign-ins/s"] is True  # 100 of 110 is above 85 %
    assert verdicts["p99 latency, jwks"] is None  # the peer's figure is missing
    assert verdicts["RSS per worker after the run"] is False  # the worst worker counts
    assert stats.check_shape(result) == []
    del result["servers"]["peer"]["scenarios"]["signin"]["p99_ms"]
    assert stats.check_shape(result) == ["servers.peer.scenarios.signin.p99_ms: missing"]
    table = stats.format_table(result)
    assert "client_credentials" in table and "[MISS] RSS per worker" in table
    assert "| signin | 100.0 |" in stats.markdown(result)


def test_a_shared_core_moves_the_verdict_to_operations_per_cpu_second():
    def shared(rate, per_cpu):
        return _scenario(rate, 10.0) | {"server_cpu_pct": 50.0, "rate_per_cpu_s": per_cpu}

    servers = {"ours": {"scenarios": {"client_credentials": shared(300.0, 1200.0)}},
               "peer": {"scenarios": {"client_credentials": shared(400.0, 800.0)}}}
    item = stats.targets({"servers": servers})[0]
    assert item["value"] == {"ratio": 0.75, "ratio_per_cpu_s": 1.5}
    assert (item["basis"], item["ok"]) == ("per CPU-second", True)


def test_the_breakdown_is_printed_beside_the_served_figures():
    result = {
        "servers": {"ours": {"scenarios": {"refresh_token": {"rate_per_cpu_s": 400.0}}},
                    "peer": {"scenarios": {"refresh_token": {"rate_per_cpu_s": 800.0}}}},
        "breakdown": {"refresh": {"grant_ms": 2.4, "signatures_ms": 0.6, "storage_ms": 0.7, "rest_ms": 1.1,
                                  "storage_floor_ms": 0.15, "storage_floor_wall_ms": 0.3,
                                  "storage_floor_synchronous": "FULL"},
                      "signin": {"exchanges_ms": {"authorize": 0.9, "token": 2.0}, "argon2id_ms": 20.0,
                                 "non_argon2id_ms": 2.9, "non_argon2id_budget_for_85pct_ms": 3.53}},
    }
    refresh, signin = stats.breakdown_lines(result)[1:]
    assert "grant 2.40 = two RS256 signatures 0.60 + storage 0.70" in refresh
    assert "sqlite3 alone: 0.15 CPU, 0.30 wall, synchronous=FULL" in refresh
    assert refresh.endswith("served: ours 2.50, peer 1.25")
    assert "argon2id 20.00 + the rest 2.90 (authorize 0.90, token 2.00)" in signin
    assert "leaves the rest 3.53" in signin
    assert stats.breakdown_lines({}) == []
    assert "- refresh_token: grant 2.40" in stats.markdown(result | {"servers": result["servers"]})


def _soak(statuses, connection_errors=0, series=None, duration=90.0):
    from bench import soak

    series = series if series is not None else {
        f"node{n} worker {n}{w}": [(t, 150.0) for t in range(0, 90, 5)] for n in (1, 2) for w in (1, 2)}
    operation = {"count": 10, "statuses": statuses, "connection_errors": connection_errors}
    result = {"operations": {"client_credentials": operation}, "nodes_alive_at_end": True,
              "rss": {"interval_s": 5, "series": series} | soak.rss_verdict(series, duration)}
    return soak.verdicts(result)


def test_the_soak_fails_on_a_5xx_or_a_connection_error():
    assert _soak({"200": 10, "302": 4, "401": 1}) | {"failures": None} == {
        "server_errors": 0, "connection_errors": 0, "workers_replaced": 0, "rss_flat": True, "passed": True,
        "failures": None}
    failed = _soak({"200": 9, "502": 1})
    assert (failed["passed"], failed["server_errors"], failed["failures"]) == (False, 1, ["5xx answers: 1"])
    assert _soak({"200": 10}, connection_errors=2)["failures"] == ["connection errors: 2"]


def test_the_soak_judges_the_rss_on_the_last_third_against_the_second():
    from bench import soak

    # The first third is the warm-up: its climb from 100 MB does not count.
    warming = [(t, 100.0 if t < 30 else 150.0) for t in range(0, 90, 5)]
    growing = [(t, 150.0 if t < 60 else 170.0) for t in range(0, 90, 5)]  # +13 %
    verdict = soak.rss_verdict({"a": warming, "b": growing, "short": [(80, 150.0)]}, 90.0)
    assert verdict["workers"]["a"] == {"second_third_mb": 150.0, "last_third_mb": 150.0, "growth_pct": 0.0,
                                       "flat": True}
    assert (verdict["workers"]["b"]["growth_pct"], verdict["workers"]["b"]["flat"]) == (13.3, False)
    assert verdict["workers"]["short"]["flat"] is None and verdict["flat"] is False
    assert soak.rss_verdict({"short": [(80, 150.0)]}, 90.0)["flat"] is None
    series = {f"node1 worker {w}": warming for w in range(4)} | {"node2 worker 9": growing}
    failed = _soak({"200": 10}, series=series)
    assert failed["rss_flat"] is False and failed["workers_replaced"] == 1
    assert failed["failures"] == ["workers replaced (one died): 1",
                                  "RSS grew by more than 10 % in node2 worker 9"]
    assert "verdict: FAILED" in soak.table({"operations": {}, "rss": {"interval_s": 5, "series": {}, "workers": {},
                                                                      "threshold_pct": 10}, "verdicts": failed})
