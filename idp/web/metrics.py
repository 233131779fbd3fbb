"""GET /metrics: Prometheus's view of the provider, for the networks of `metrics.allowed_networks`."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import func

from idp import mail, metrics
from idp.extensions import db
from idp.models.oidc import BackchannelDelivery

bp = Blueprint("metrics", __name__)


def is_allowed(address: str | None, networks: list[str]) -> bool:
    """Is the client (already resolved behind trusted_proxies) in one of `networks`? None listed: nobody."""
    try:
        found = ip_address((address or "").strip())
    except ValueError:
        return False
    return any(found in ip_network(network) for network in networks)


@bp.get("/metrics")
def scrape() -> Response:
    # Others get the 404 of a page that does not exist: the counters tell an attacker how an
    # attack goes (failures by reason, lockouts).
    if not is_allowed(request.remote_addr, current_app.config["IDP"].metrics.allowed_networks):
        abort(404)
    gauges: dict[str, tuple[str, float]] = {}
    # Measured in SQL at each scrape, so every worker gives the same figure; a database outage
    # leaves the counters readable (and counts itself in idp_database_errors_total).
    try:
        waiting, oldest, failed = mail.outbox_stats()
        backchannel = db.session.execute(
            db.select(func.count()).select_from(BackchannelDelivery)
            .where(BackchannelDelivery.delivered_at.is_(None), BackchannelDelivery.failed_at.is_(None))
        ).scalar_one()
        gauges = {
            "idp_outbox_depth": ("Emails waiting to be sent (queued or waiting for a retry).", waiting),
            "idp_outbox_oldest_age_seconds": ("Age of the oldest email waiting; 0 when none waits.", oldest),
            "idp_outbox_failed": ("Emails given up after mail.max_attempts.", failed),
            "idp_backchannel_depth": ("Back-channel logout tokens waiting to be posted.", backchannel),
            "idp_database_up": ("1 when the database answered this scrape.", 1.0),
        }
    except Exception:  # noqa: BLE001 - the outage is the figure
        current_app.logger.warning("metrics: database unreachable")
        gauges = {"idp_database_up": ("1 when the database answered this scrape.", 0.0)}
    finally:
        db.session.rollback()
    return Response(metrics.exposition(gauges), mimetype="text/plain; version=0.0.4; charset=utf-8")
