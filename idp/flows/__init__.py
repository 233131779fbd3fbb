"""User flows: each module defines `flow`, a Flow with its blueprint and pipeline steps.

A flow is enabled by naming it in the configuration's `flows` list; nothing else is edited.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util

from flask import current_app, request

from idp.config import ThrottlingConfig
from idp.models.users import login_key
from idp.pipeline import Flow


def throttling() -> ThrottlingConfig:
    return current_app.config["IDP"].throttling


def typed_value_key(prefix: str, field: str) -> str:
    """A rate-limit key for the address (or login) typed in form field `field`.

    Hashed, so that counters exist for unknown values too (no hint that an account exists)
    and nothing typed is written to the store in clear.
    """
    value = login_key(request.form.get(field) or "")
    return f"{prefix}:{hashlib.sha256(value.encode()).hexdigest()}"


def flow_exists(name: str) -> bool:
    if not name.isidentifier():
        return False
    return importlib.util.find_spec(f"idp.flows.{name}") is not None


def check_flows(names: list[str]) -> list[str]:
    """Configuration errors for the `flows` list: unknown flows and missing requirements."""
    errors = []
    for index, name in enumerate(names):
        if not flow_exists(name):
            errors.append(f'flows[{index}]: unknown flow "{name}"')
    if errors:
        return errors
    for flow in load_flows(names, check=False):
        for required in flow.requires:
            if required not in names:
                errors.append(f'flows: flow "{flow.name}" needs flow "{required}"')
    return errors


def load_flows(names: list[str], *, check: bool = True) -> list[Flow]:
    """Import the enabled flows in configuration order."""
    if check:
        problems = check_flows(names)
        if problems:
            raise ValueError("; ".join(problems))
    flows = []
    for name in names:
        module = importlib.import_module(f"idp.flows.{name}")
        flows.append(module.flow)
    return flows
