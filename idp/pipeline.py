"""The sign-in pipeline: ordered steps, each a pure check, and the interactions that walk them.

The protocol code (idp.oidc) asks `next_step()` which step is unmet and redirects there with an
interaction id; a flow's view proves its step and calls `complete()`, which records the proof
and returns the resume address. Steps never redirect to each other: on resume every check runs
again, and what a step proved is read from the stored interaction, never from the browser.
The module owns no views and imports neither the protocol nor the flows.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app

from idp.store import get_json, put_json, take_json

INTERACTION_KEY = "interaction:"  # TTL: tokens.interaction_ttl_seconds
# The parameter the protocol adds to an interaction: the scopes the request would release, those
# asked for and those carrying the claims asked for one by one (OIDC Core 5.5), space-separated.
CONSENT_SCOPES = "_consent_scopes"


@dataclass(frozen=True)
class SessionFacts:
    """What the SSO session says about who is signed in."""

    user_id: int | None = None
    auth_time: int | None = None
    amr: tuple[str, ...] = ()
    sid: str | None = None
    company: str | None = None  # the session's active company (a Company.public_id), from /tools or a pick


@dataclass
class Interaction:
    """One pass through the pipeline on behalf of an authorization request.

    `params` is the original request; `done` maps a step name to what it proved (its own
    declared keys); `user`, `session`, `client`, `now` and `address` are filled in by the caller
    before checks run and are never stored.
    """

    uid: str
    client_id: str
    params: dict[str, str]
    return_to: str
    created_at: int
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    session: SessionFacts = field(default_factory=SessionFacts)
    user: Any = None
    client: Any = None
    now: int = 0
    address: str | None = None  # the client's address for this request (idp.security.networks)

    @property
    def prompts(self) -> set[str]:
        return set(self.params.get("prompt", "").split())

    @property
    def consent_scopes(self) -> list[str]:
        """What a person allows by consenting to this request (see CONSENT_SCOPES); the
        requested scopes alone for an interaction opened before the protocol set it."""
        value = self.params.get(CONSENT_SCOPES)
        return (value if value is not None else self.params.get("scope", "")).split()

    def to_dict(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "client_id": self.client_id,
            "params": self.params,
            "return_to": self.return_to,
            "created_at": self.created_at,
            "done": self.done,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interaction:
        return cls(
            uid=data["uid"],
            client_id=data["client_id"],
            params=data["params"],
            return_to=data["return_to"],
            created_at=data["created_at"],
            done=data.get("done", {}),
        )


Check = Callable[[Interaction], "str | None"]


@dataclass(frozen=True)
class Step:
    """A named check in the sign-in pipeline.

    `needed(interaction)` returns a reason (`no_session`, `max_age`...) when the step must be
    shown, or None when it is satisfied. `endpoint` is the flow's view for it. `interactive`
    is False for steps that can never be satisfied by showing a page (e.g. an IP restriction):
    then the reason becomes an error for the client.
    """

    name: str
    order: int
    endpoint: str
    needed: Check
    error: str = "interaction_required"  # the OIDC error under prompt=none
    interactive: bool = True


@dataclass(frozen=True)
class Flow:
    """A user flow: a blueprint and the steps it contributes, plus flows it needs enabled."""

    name: str
    blueprint: Blueprint
    steps: tuple[Step, ...] = ()
    requires: tuple[str, ...] = ()
    init_app: Callable[[Any], None] | None = None


def ordered_steps(flows: Iterable[Flow]) -> tuple[Step, ...]:
    """The steps of the enabled flows, in pipeline order."""
    steps = [step for flow in flows for step in flow.steps]
    names = [s.name for s in steps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"steps defined twice: {', '.join(sorted(duplicates))}")
    return tuple(sorted(steps, key=lambda s: (s.order, s.name)))


def next_step(steps: Sequence[Step], interaction: Interaction) -> tuple[Step, str] | None:
    """The first step not satisfied and its reason, or None when the request may resume."""
    for step in steps:
        reason = step.needed(interaction)
        if reason is not None:
            return step, reason
    return None


# The store-backed half: the only state the pipeline keeps is the interaction itself.


def _ttl() -> int:
    return current_app.config["IDP"].tokens.interaction_ttl_seconds


def start(client_id: str, params: dict[str, str], return_to: Callable[[str], str]) -> Interaction:
    """Open an interaction for an authorization request; `return_to(uid)` is its resume address."""
    uid = secrets.token_urlsafe(18)
    interaction = Interaction(
        uid=uid, client_id=client_id, params=dict(params), return_to=return_to(uid), created_at=int(time.time())
    )
    put_json(INTERACTION_KEY + uid, interaction.to_dict(), _ttl())
    return interaction


def load(uid: str | None) -> Interaction | None:
    """The interaction with this id, or None when it is unknown or expired."""
    if not uid or len(uid) > 64:
        return None
    data = get_json(INTERACTION_KEY + uid)
    return None if data is None else Interaction.from_dict(data)


def live_uid(uid: str | None) -> str | None:
    """`uid` when it names an interaction still in progress, else None: what a page carries on
    (in a link, an email, a hidden field) so that the person comes back to their portal."""
    return uid if load(uid) is not None else None


def save(interaction: Interaction) -> None:
    put_json(INTERACTION_KEY + interaction.uid, interaction.to_dict(), _ttl())


def complete(uid: str, step: str, **proof: Any) -> str:
    """Record what `step` proved in the interaction and return its resume address.

    When the interaction has expired there is nothing to resume: "/" sends the person to the
    provider's home page, signed in, from where they can go back to their portal.
    """
    interaction = load(uid)
    if interaction is None:
        return "/"
    interaction.done[step] = {"at": int(time.time()), **proof}
    save(interaction)
    return interaction.return_to


def finish(uid: str) -> Interaction | None:
    """Take the interaction out of the store (single use) once the request has resumed."""
    data = take_json(INTERACTION_KEY + uid)
    return None if data is None else Interaction.from_dict(data)
