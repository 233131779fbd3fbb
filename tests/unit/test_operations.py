"""Operations without a socket: the Sentinel URL, the rate limiter's storage, the JSON log."""

from __future__ import annotations

import json
import logging

import pytest

from idp.config import ConfigError, SentinelUrl, parse_config, parse_sentinel_url
from idp.serving import JsonFormatter
from idp.store import limiter_storage


def test_a_sentinel_url_is_read():
    assert parse_sentinel_url("redis+sentinel://:s3cret@10.0.0.1:26379,sentinel-b:26380/mymaster/3") == SentinelUrl(
        [("10.0.0.1", 26379), ("sentinel-b", 26380)], "mymaster", 3, None, "s3cret")
    assert parse_sentinel_url("redis+sentinel://a/mymaster") == SentinelUrl([("a", 26379)], "mymaster", 0, None, None)


@pytest.mark.parametrize(("url", "message"), [
    ("redis+sentinel://a:26379", "names no service"),
    ("redis+sentinel://a:26379/", "names no service"),
    ("redis+sentinel://a:port/mymaster", "'a:port' is not host:port"),
    ("redis+sentinel://a:26379,:1/mymaster", "':1' is not host:port"),
    ("redis+sentinel://a:26379/mymaster/x", "database 'x' is not a number"),
    ("sentinel://a:26379/mymaster", "must be a redis://, rediss://, unix:// or redis+sentinel:// URL"),
], ids=["no-service", "empty-service", "bad-port", "no-host", "bad-db", "scheme"])
def test_a_wrong_redis_url_is_named(url, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": "http://127.0.0.1:5000", "redis_url": url})
    assert any(line.startswith("redis_url: ") and message in line for line in caught.value.errors), caught.value.errors


def test_the_rate_limiter_asks_the_same_sentinels():
    uri, options = limiter_storage("redis+sentinel://:pw@h1:26379,h2:26379/mymaster/2")
    # The limits library reads the whole path as the service: the database goes as an option.
    assert uri == "redis+sentinel://h1:26379,h2:26379/mymaster"
    assert options["db"] == 2 and options["password"] == "pw" and options["sentinel_kwargs"]["password"] == "pw"
    assert limiter_storage(None) == ("memory://", {})
    assert limiter_storage("redis://r:6379/1")[0] == "redis://r:6379/1"


def test_a_json_log_line_carries_the_event_fields():
    record = logging.LogRecord("idp.audit", logging.INFO, __file__, 1, "user.signed_in user=%s", (7,), None)
    record.idp_fields = {"event": "user.signed_in", "user_id": 7, "ip": "192.0.2.1", "amr": ["pwd"]}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "user.signed_in user=7" and entry["level"] == "INFO" and entry["logger"] == "idp.audit"
    assert entry["event"] == "user.signed_in" and entry["user_id"] == 7 and entry["amr"] == ["pwd"]


def test_metrics_and_log_settings_are_checked():
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuer": "http://127.0.0.1:5000", "log": {"format": "xml"},
                      "metrics": {"allowed_networks": ["10.0.0.1/8"]}, "audit": {"retention_days": 0}})
    errors = "\n".join(caught.value.errors)
    assert "log.format" in errors and "metrics.allowed_networks[0]" in errors and "audit.retention_days" in errors
