"""/metrics: Prometheus counters of sign-ins, failures, tokens, the outbox; only from allowed networks."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from idp.extensions import db
from idp.models import OutboxMessage
from idp.models.base import utcnow
from tests.factories import PASSWORD, make_user

API_SECRET = "api-secret-0123456789abcdef"


@pytest.fixture
def config_overrides():
    return {"clients": [{"client_id": "api", "secret": API_SECRET, "grant_types": ["client_credentials"]}],
            "metrics": {"allowed_networks": ["127.0.0.0/8", "10.9.0.0/16"]}}


def scrape(client, address="127.0.0.1") -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name, **labels) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_sign_ins_and_failures_by_reason_are_counted(client, actions):
    make_user("ana@example.com")
    before = scrape(client)
    actions.login("ana@example.com", "wrong-password")
    actions.login("ana@example.com", PASSWORD)
    after = scrape(client)
    assert value(after, "idp_sign_ins_total") == value(before, "idp_sign_ins_total") + 1
    failures = ("idp_sign_in_failures_total", {"reason": "bad_credentials"})
    assert value(after, failures[0], **failures[1]) == value(before, failures[0], **failures[1]) + 1
    event = {"event": "user.signed_in"}
    assert value(after, "idp_audit_events_total", **event) == value(before, "idp_audit_events_total", **event) + 1


def test_tokens_are_counted_by_grant(client):
    credentials = base64.b64encode(f"api:{API_SECRET}".encode()).decode()
    before = scrape(client)
    granted = client.post("/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {credentials}"})
    assert granted.status_code == 200
    refused = client.post("/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": "Basic " + base64.b64encode(b"api:wrong").decode()})
    assert refused.status_code == 401
    after = scrape(client)
    grant = {"grant": "client_credentials"}
    assert value(after, "idp_tokens_issued_total", **grant) == value(before, "idp_tokens_issued_total", **grant) + 1


def test_outbox_depth_and_oldest_age(app, client):
    assert value(scrape(client), "idp_outbox_depth") == 0
    assert value(scrape(client), "idp_outbox_oldest_age_seconds") == 0
    for number in range(2):
        db.session.add(OutboxMessage(kind="test", recipient="a@example.com", subject="s", body_text="t",
                                     body_html="h", message_id=f"<{number}@example.com>",
                                     created_at=utcnow() - timedelta(minutes=10), next_attempt_at=utcnow()))
    db.session.add(OutboxMessage(kind="test", recipient="b@example.com", subject="s", body_text="t", body_html="h",
                                 message_id="<gone@example.com>", status="failed", attempts=12))
    db.session.commit()
    values = scrape(client)
    assert value(values, "idp_outbox_depth") == 2
    assert 600 <= value(values, "idp_outbox_oldest_age_seconds") < 700
    assert value(values, "idp_outbox_failed") == 1
    assert value(values, "idp_database_up") == 1


def test_request_latency_is_measured_per_endpoint(client):
    client.get("/healthz")
    values = scrape(client)
    count = value(values, "idp_request_duration_seconds_count", endpoint="health.healthz", status="2xx")
    assert count >= 1
    assert value(values, "idp_request_duration_seconds_bucket", endpoint="health.healthz", status="2xx",
                 le="+Inf") == count


@pytest.mark.parametrize("address", ["203.0.113.7", "10.10.0.1", "::1"], ids=["internet", "next-network", "ipv6"])
def test_other_networks_get_a_404(client, address):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 404
    assert b"idp_" not in response.data


def test_an_allowed_network_other_than_loopback(client):
    assert value(scrape(client, "10.9.3.4"), "idp_outbox_depth") == 0
