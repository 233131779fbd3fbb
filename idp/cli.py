"""The `idp` command: serve, check the configuration, migrate, seed, manage users and companies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from flask import Flask

from idp.config import ConfigError, IdpConfig, collect_checks, load_config
from idp.text import has_control_characters

DEFAULT_CONFIG = "config/demo.yaml"


def _load(path: str) -> IdpConfig:
    """The validated configuration, or every error printed and exit status 1."""
    from idp.flows import check_flows

    try:
        config, errors = load_config(path), []
    except ConfigError as exc:
        config, errors = exc.config, exc.errors
    if config is not None:
        # Run on what could be read even when other keys are wrong: every error at once.
        errors += collect_checks(lambda: check_flows(config.flows), lambda: _check_mfa_companies(config))
    if errors:
        _fail(path, errors)
    return config


def _check_mfa_companies(config: IdpConfig) -> list[str]:
    """`company:ID` selectors of mfa.required_for name companies of the directory file."""
    from idp.companies.directory import check_identifier, known_identifiers

    selectors = config.mfa.selectors("company")
    if not selectors:
        return []
    known = known_identifiers(config.companies)
    if known is None:
        return [f"mfa.required_for[{index}]: company selectors need a readable companies.directory to check "
                f"{ident!r} against" for index, ident in selectors]
    return [f"mfa.required_for[{index}]: unknown company {ident!r} (not in companies.directory)"
            for index, ident in selectors if check_identifier(ident, config.companies) not in known]


def _fail(path: str, errors: list[str]) -> NoReturn:
    click.echo(f"{path}: {len(errors)} error{'s' if len(errors) != 1 else ''}", err=True)
    for line in errors:
        click.echo(f"  {line}", err=True)
    sys.exit(1)


def _app(ctx: click.Context, *, start_workers: bool = False) -> Flask:
    """The application for this command; its database connections close when the command ends."""
    from idp import create_app

    app = create_app(_load(ctx.obj["config_path"]), start_workers=start_workers)
    ctx.find_root().call_on_close(lambda: _close(app))
    return app


def _close(app: Flask) -> None:
    # Closed now rather than when collected: the command may run inside a longer process.
    from idp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _plain_text(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A text option as the forms accept it: no control characters (idp.text), whatever a script passes."""
    if value is not None and has_control_characters(value):
        raise click.BadParameter("control characters (line breaks, tabs...) are not allowed")
    return value


def _remember_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config_path"] = value


def _accept_config(command: click.Command) -> None:
    """Give `command` (and, for a group, every command in it) its own --config FILE."""
    if not any(param.name == "config_path" for param in command.params):
        command.params.append(click.Option(
            ["--config", "config_path"], metavar="FILE", expose_value=False, callback=_remember_config,
            help="The configuration file (as `idp --config FILE`; the one given last wins)."))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_config(sub)


class _Group(click.Group):
    """A group whose commands take --config after their name too: `idp serve --config F`,
    `idp users create --config F ...`. The group's own option is parsed first and a command's
    after it, so the one nearest the command wins."""

    group_class = type  # sub-groups made with @group.group() are _Group as well

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _accept_config(cmd)
        super().add_command(cmd, name)


@click.group(cls=_Group)
@click.option("--config", "config_path", envvar="IDP_CONFIG", default=DEFAULT_CONFIG, show_default=True,
              metavar="FILE", help="The configuration file (or IDP_CONFIG); also accepted after any command.")
@click.pass_context
def main(ctx: click.Context, config_path: str) -> None:
    """An OpenID Connect identity provider for B2B portals."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


@main.command("check-config")
@click.argument("path", required=False)
@click.pass_context
def check_config(ctx: click.Context, path: str | None) -> None:
    """Validate a configuration file and print every error with its key path."""
    path = path or ctx.obj["config_path"]
    config = _load(path)
    click.echo(f"{path}: OK ({len(config.clients)} clients, flows: {', '.join(config.flows)})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="Worker processes (default: 2 with Redis, 1 without).")
@click.option("--threads", default=None, type=int,
              help="Request threads per worker (default: 2 on the embedded default, 4 with PostgreSQL).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Serve the provider with granian, a production WSGI server."""
    from idp.serving import metrics_directory, serve_forever

    # Before the configuration is read: reading it loads the modules that import prometheus_client.
    metrics_directory()
    config_path = ctx.obj["config_path"]
    config = _load(config_path)
    if workers is None:
        workers = 2 if config.redis_url else 1
    if workers > 1 and not config.redis_url:
        # The in-process store is per process: sessions and codes would not be shared.
        raise click.UsageError("more than one worker needs redis_url in the configuration")
    if threads is None:
        threads = 2 if config.database_url.startswith("sqlite") else 4
    click.echo(f"Serving {config.issuer} on http://{host}:{port} ({workers} worker(s), {threads} thread(s) each); "
               f"configuration {config_path}")
    serve_forever(config, host=host, port=port, workers=workers, threads=threads)


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply the migrations up to REVISION."""
    from idp.models.migrate import upgrade

    app = _app(ctx.parent)
    with app.app_context():
        upgrade(revision)
    click.echo(f"Database at {revision}.")


@db.command("prune")
@click.pass_context
def db_prune(ctx: click.Context) -> None:
    """Remove expired refresh tokens, links and invitations, and audit rows past audit.retention_days."""
    from idp.maintenance import prune

    app = _app(ctx.parent)
    with app.app_context():
        removed = prune(app.config["IDP"])
    for table, count in removed.items():
        click.echo(f"{table}: {count} removed")


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Seed the demo data: two companies and users in each role; prints their passwords."""
    from idp.demo import seed

    app = _app(ctx)
    with app.app_context():
        for line in seed():
            click.echo(line)


@main.command("pipeline")
@click.pass_context
def show_pipeline(ctx: click.Context) -> None:
    """Print the ordered sign-in steps of the enabled flows."""
    app = _app(ctx)
    for step in app.extensions["idp.steps"]:
        click.echo(f"{step.order:>4}  {step.name:<20} {step.endpoint}")


@main.group()
def users() -> None:
    """People's accounts."""


@users.command("create")
@click.option("--email", required=True, callback=_plain_text)
@click.option("--given-name", default="", callback=_plain_text)
@click.option("--family-name", default="", callback=_plain_text)
@click.option("--username", callback=_plain_text)
@click.option("--phone", callback=_plain_text)
@click.option("--locale", type=click.Choice(["fr", "en"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--send-password-link", is_flag=True, help="Email a single-use link to set the password.")
@click.option("--must-change-password", is_flag=True, help="With --password-stdin: change it at first sign-in.")
@click.pass_context
def users_create(ctx: click.Context, email: str, given_name: str, family_name: str, username: str | None,
                 phone: str | None, locale: str | None, password_stdin: bool, send_password_link: bool,
                 must_change_password: bool) -> None:
    """Create an active account, with a password from stdin or an emailed link to set one."""
    from idp import accounts

    if password_stdin == send_password_link:
        raise click.UsageError("give exactly one of --password-stdin and --send-password-link")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    app = _app(ctx.parent)
    # A request context lets the emailed link be built with url_for (the issuer is prepended).
    with app.app_context(), app.test_request_context():
        try:
            user = accounts.create_user(
                email=email, given_name=given_name, family_name=family_name, username=username, phone=phone,
                locale=locale, password=password, send_password_link=send_password_link,
                must_change_password=must_change_password,
            )
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        from idp.mail import deliver_due

        deliver_due()
        click.echo(f"Created {user.email} (sub {user.public_id}).")


@users.command("disable")
@click.argument("email")
@click.pass_context
def users_disable(ctx: click.Context, email: str) -> None:
    """Disable an account: sign-in refused, sessions ended, refresh tokens revoked."""
    from idp import accounts

    app = _app(ctx.parent)
    with app.app_context():
        try:
            accounts.disable_user(email)
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Disabled {email}.")


@users.command("reset-mfa")
@click.argument("email")
@click.pass_context
def users_reset_mfa(ctx: click.Context, email: str) -> None:
    """Remove every second factor and recovery code of EMAIL (who lost them); they are emailed."""
    from idp.extensions import db as database
    from idp.mail import deliver_due
    from idp.models import User
    from idp.security import mfa

    app = _app(ctx.parent)
    # A request context, as for `users create`: the email renders in the account's language.
    with app.app_context(), app.test_request_context():
        user = User.find_by_email(email)
        if user is None:
            raise click.ClickException(f"no account for {email}")
        removed = mfa.reset(user, actor=None)
        database.session.commit()
        deliver_due()
        click.echo(f"Reset two-step verification of {user.email}: {removed} factor{'s' if removed != 1 else ''} "
                   "removed.")


@main.command("invite")
@click.option("--company", "company_id", required=True, help="The company's identifier (customer number, SIREN...).")
@click.option("--role", required=True, help="One of the configured roles.")
@click.option("--branch", default=None, callback=_plain_text)
@click.option("--locale", help="The language of the email when the address has no account (an account's own "
                               "language wins): one of the configured languages.")
@click.argument("email", callback=_plain_text)
@click.pass_context
def invite(ctx: click.Context, company_id: str, role: str, branch: str | None, locale: str | None, email: str) -> None:
    """Invite EMAIL to join a company with a role; the email carries a single-use link."""
    from idp import companies
    from idp.companies import invitations
    from idp.extensions import db as database
    from idp.mail import deliver_due

    app = _app(ctx)
    languages = app.config["IDP"].languages
    if locale is not None and locale not in languages:
        raise click.BadParameter(f"use one of {', '.join(languages)}", param_hint="'--locale'")
    with app.app_context(), app.test_request_context():
        # The identifier as the directory import and the join page read it (a SIREN with spaces...).
        company = companies.find_company(company_id)
        if company is None:
            raise click.ClickException(f"no company {company_id}")
        try:
            invitation = invitations.invite(company, email, role, branch=branch, locale=locale)
        except invitations.InvitationError as exc:
            raise click.ClickException(str(exc)) from None
        database.session.commit()
        deliver_due()
        click.echo(f"Invited {invitation.email} to {company.name} as {role}; "
                   f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.")


@main.group()
def keys() -> None:
    """The token signing keys."""


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make new keys sign; the previous ones stay published so issued tokens stay verifiable."""
    from idp.oidc.keys import rotate

    app = _app(ctx.parent)
    with app.app_context():
        kids = rotate()
    click.echo(f"New signing keys: {', '.join(kids)}.")


@main.group("secrets")
def secrets_group() -> None:
    """The application secret (secret_key) and its rotation."""


@secrets_group.command("reseal")
@click.pass_context
def secrets_reseal(ctx: click.Context) -> None:
    """Seal every sealed value (signing keys, TOTP seeds) under the current secret_key, in one transaction."""
    from idp.extensions import db as database
    from idp.oidc.keys import reseal as reseal_signing_keys
    from idp.security.mfa import reseal_totp_seeds
    from idp.security.sealing import UnsealError

    app = _app(ctx.parent)
    with app.app_context():
        try:
            keys = reseal_signing_keys()
            seeds = reseal_totp_seeds()
        except UnsealError as exc:
            # All or nothing: a half-resealed set would be no easier to reason about afterwards.
            database.session.rollback()
            raise click.ClickException(f"{exc}. Nothing was changed.") from None
        database.session.commit()
    click.echo(f"Signing keys: {keys[0]} resealed, {keys[1]} already under the current secret.")
    click.echo(f"TOTP seeds: {seeds[0]} resealed, {seeds[1]} already under the current secret.")
    if app.config["SECRET_KEY_FALLBACKS"]:
        click.echo("Recovery codes issued before the rotation still match only under a fallback: keep "
                   "secret_key_fallbacks until they are renewed or no longer matter.")


@main.group()
def companies() -> None:
    """The company directory."""


@companies.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), required=False)
@click.pass_context
def companies_import(ctx: click.Context, path: str | None) -> None:
    """Load or update companies from a CSV or YAML file (default: companies.directory of the configuration).

    Columns or keys: id, name, address, city, postal_code, phone, member_code, active.
    """
    from idp.companies.directory import DirectoryError, import_companies

    app = _app(ctx.parent)
    path = path or app.config["IDP"].companies.directory
    if not path or not Path(path).is_file():
        raise click.UsageError("give a FILE, or set companies.directory to an existing file")
    with app.app_context():
        try:
            summary = import_companies(Path(path), progress=lambda line: click.echo(line, err=True))
        except DirectoryError as exc:
            _fail(path, exc.errors)
        click.echo(f"{summary.created} created, {summary.updated} updated. {summary.deactivated} of them deactivated, "
                   f"{summary.unchanged} unchanged.")


@main.group()
def operators() -> None:
    """The platform's operators (the /admin/operator pages)."""


@operators.command("add")
@click.argument("email")
@click.pass_context
def operators_add(ctx: click.Context, email: str) -> None:
    """Make the account EMAIL an operator of the platform."""
    user_email = _set_operator(ctx, email, True)
    click.echo(f"{user_email} is an operator.")


@operators.command("remove")
@click.argument("email")
@click.pass_context
def operators_remove(ctx: click.Context, email: str) -> None:
    """Take the operator role back from the account EMAIL."""
    user_email = _set_operator(ctx, email, False)
    click.echo(f"{user_email} is no longer an operator.")


def _set_operator(ctx: click.Context, email: str, operator: bool) -> str:
    from idp import audit
    from idp.extensions import db as database
    from idp.models import User

    app = _app(ctx.parent)
    with app.app_context():
        user = User.find_by_email(email)
        if user is None:
            raise click.ClickException(f"no account for {email}")
        user.is_operator = operator
        audit.record("user.operator_granted" if operator else "user.operator_revoked", user=user, by="cli")
        database.session.commit()
        return user.email


@main.group()
def mail() -> None:
    """The outbox."""


@mail.command("send")
@click.pass_context
def mail_send(ctx: click.Context) -> None:
    """Deliver the queued messages that are due, once."""
    from idp.mail import deliver_due

    app = _app(ctx.parent)
    with app.app_context():
        click.echo(f"{deliver_due()} sent.")


@mail.command("test")
@click.argument("recipient", callback=_plain_text)
@click.option("--locale", type=click.Choice(["fr", "en"]))
@click.pass_context
def mail_test(ctx: click.Context, recipient: str, locale: str | None) -> None:
    """Queue and deliver a test message, to check the mail settings."""
    from idp.extensions import db as database
    from idp.mail import deliver_due, queue_email

    app = _app(ctx.parent)
    with app.app_context(), app.test_request_context():
        queue_email("test", recipient, locale)
        database.session.commit()
        click.echo(f"{deliver_due()} sent.")


if __name__ == "__main__":
    main()
