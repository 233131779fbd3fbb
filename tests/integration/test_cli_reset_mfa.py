"""`idp users reset-mfa EMAIL`: every factor and recovery code removed, audited, and the person emailed."""

import yaml
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, MfaFactor
from idp.security import mfa
from tests.conftest import base_config, smtp_mail_config
from tests.factories import make_user
from tests.integration.companies.helpers import run_cli
from tests.integration.flows.mfa_helpers import MFA_FLOWS, add_totp


def test_users_reset_mfa(app, backend, tmp_path, smtp):
    ana = make_user("ana@example.com", locale="en")
    add_totp(ana)
    mfa.issue_recovery_codes(ana, notify=False)
    db.session.commit()
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, mail=smtp_mail_config(smtp), flows=MFA_FLOWS)))

    result = run_cli(["--config", str(path), "users", "reset-mfa", "Ana@Example.com"])
    assert result.exit_code == 0, result.output
    assert result.output == "Reset two-step verification of ana@example.com: 1 factor removed.\n"
    db.session.expire_all()
    assert db.session.scalars(select(MfaFactor).where(MfaFactor.user_id == ana.id)).all() == []
    assert mfa.recovery_codes_left(ana) == 0
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "mfa.reset")).all()
    assert event.user_id == ana.id and event.actor_id is None
    # Delivered by the command itself, as `users create` does.
    [message] = smtp.wait_for(1)
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Two-step verification was reset on your account"

    unknown = run_cli(["--config", str(path), "users", "reset-mfa", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no account for nobody@example.com" in unknown.output
