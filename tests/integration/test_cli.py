"""The `idp` command, run through Click's runner on the test's backend."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from idp.cli import main
from idp.extensions import db
from idp.models import Company, Membership, User
from tests.conftest import base_config


@pytest.fixture
def config_file(app, backend, tmp_path):
    document = base_config(backend, tmp_path)
    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run(config_file, *args, input=None):
    return CliRunner().invoke(main, ["--config", str(config_file), *args], input=input, catch_exceptions=False)


def test_check_config_lists_every_error_and_fails(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"issuer": "ftp://x", "languages": [], "flows": ["login", "teleport"],
                                    "colour": "blue"}))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1
    # The checks that follow the fields' own (secret_key, the flows) run despite the field errors.
    assert result.output.splitlines() == [
        f"{path}: 5 errors",
        "  issuer: must be an https URL (http only on a loopback address)",
        "  languages: needs at least one language",
        "  colour: unknown key",
        "  secret_key: required outside the demo (use ${IDP_SECRET_KEY})",
        '  flows[1]: unknown flow "teleport"',
    ]


def _commands(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_takes_config_after_its_name():
    missing = [" ".join(path) for path, command in _commands(main)
               if not any("--config" in param.opts for param in command.params)]
    assert missing == []


@pytest.fixture
def bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"issuer": "ftp://x", "secret_key": "s" * 40}))
    return path


# One line of each command group; `--config` goes right after the command's name. The file is
# invalid, so reading it is the first thing each does: its errors show that this file was the one read.
@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["check-config"], []),
        (["serve"], ["--port", "1"]),
        (["db", "upgrade"], []),
        (["demo"], []),
        (["pipeline"], []),
        (["users", "create"], ["--email", "ada@example.com", "--password-stdin"]),
        (["users", "disable"], ["ada@example.com"]),
        (["invite"], ["--company", "C-1", "--role", "order", "ada@example.com"]),
        (["keys", "rotate"], []),
        (["secrets", "reseal"], []),
        (["companies", "import"], []),
        (["operators", "add"], ["ada@example.com"]),
        (["operators", "remove"], ["ada@example.com"]),
        (["mail", "send"], []),
        (["mail", "test"], ["ada@example.com"]),
    ],
    ids=lambda value: "-".join(value) or "no-args",
)
def test_config_after_the_command(bad_config, command, args):
    result = CliRunner().invoke(main, [*command, "--config", str(bad_config), *args], input="Tranquil-Otter-42\n")
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [f"{bad_config}: 1 error",
                                          "  issuer: must be an https URL (http only on a loopback address)"]


@pytest.mark.parametrize(
    "line",
    [["users", "--config", "BAD", "create", "--email", "ada@example.com", "--password-stdin"],
     ["--config", "config/demo.yaml", "users", "create", "--config", "BAD", "--email", "ada@example.com",
      "--password-stdin"],
     ["--config", "config/demo.yaml", "mail", "--config", "BAD", "send"],
     ["--config", "config/demo.yaml", "keys", "rotate", "--config", "BAD"]],
    ids=["on-the-group", "command-over-main", "group-over-main", "after-the-sub-command"],
)
def test_the_config_nearest_the_command_wins(bad_config, line):
    args = [str(bad_config) if arg == "BAD" else arg for arg in line]
    result = CliRunner().invoke(main, args, input="Tranquil-Otter-42\n")
    assert result.exit_code == 1 and result.output.startswith(f"{bad_config}: 1 error"), result.output


def test_check_config_reports_unknown_flows(tmp_path):
    path = tmp_path / "flows.yaml"
    path.write_text(yaml.safe_dump({"issuer": "https://x.example", "secret_key": "s" * 40,
                                    "flows": ["login", "teleport"]}))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 1 and '  flows[1]: unknown flow "teleport"' in result.output


def test_serve_refuses_an_invalid_configuration(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"issuer": "ftp://x", "secret_key": "short", "colour": "blue"}))
    result = CliRunner().invoke(main, ["--config", str(path), "serve", "--port", "1"])
    assert result.exit_code == 1
    assert "  issuer: must be an https URL" in result.output and "  colour: unknown key" in result.output
    assert "  secret_key: String should have at least 32 characters" in result.output


def test_check_config_accepts_the_demo():
    result = CliRunner().invoke(main, ["check-config", "config/demo.yaml"])
    assert result.exit_code == 0 and "config/demo.yaml: OK" in result.output


def test_users_create_with_password_from_stdin_then_disable(config_file):
    result = run(config_file, "users", "create", "--email", "Zoe@Example.com", "--username", "Zoe",
                 "--given-name", "Zoé", "--phone", "+33 6 00 00 00 00", "--password-stdin", input="Tranquil-Otter-42\n")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    user = User.find_by_email("zoe@example.com")
    assert user.username == "zoe" and user.given_name == "Zoé" and user.is_active and user.password_hash
    assert "Tranquil-Otter-42" not in result.output
    again = run(config_file, "users", "create", "--email", "zoe@example.com", "--password-stdin", input="x\n")
    assert again.exit_code == 1 and "an account already exists" in again.output
    assert run(config_file, "users", "disable", "zoe@example.com").exit_code == 0
    db.session.expire_all()
    assert User.find_by_email("zoe@example.com").status == "disabled"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--email", "a@example.com"], None, "give exactly one of --password-stdin and --send-password-link"),
        (["--email", "not-an-email", "--password-stdin"], "Tranquil-Otter-42\n", "invalid email address"),
        (["--email", "a@example.com", "--password-stdin"], "password\n", "password refused: "),
    ],
    ids=["no-password-choice", "bad-email", "weak-password"],
)
def test_users_create_refusals(config_file, args, stdin, message):
    result = CliRunner().invoke(main, ["--config", str(config_file), "users", "create", *args], input=stdin)
    assert result.exit_code != 0 and message in result.output


def test_companies_import_creates_then_updates(config_file, tmp_path):
    csv = tmp_path / "companies.csv"
    csv.write_text("id,name,address,city,postal_code,phone,member_code,active\n"
                   "C-1,Durand,1 rue A,Lyon,69001,0400,CODE-1,true\nC-2,Martin,,Nantes,44000,,CODE-2,false\n")
    result = run(config_file, "companies", "import", str(csv))
    assert result.exit_code == 0 and "2 created, 0 updated." in result.output
    csv.write_text("id,name,address,city,postal_code,phone,member_code,active\nC-1,Durand SA,,Lyon,,,,yes\n")
    assert "0 created, 1 updated." in run(config_file, "companies", "import", str(csv)).output
    db.session.expire_all()
    durand = db.session.scalars(db.select(Company).where(Company.external_id == "C-1")).one()
    assert durand.name == "Durand SA" and durand.check_member_code("CODE-1")  # an empty code keeps the old one
    assert not db.session.scalars(db.select(Company).where(Company.external_id == "C-2")).one().active


def test_companies_import_refuses_a_bad_file_whole(config_file, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("id,name,address,city,postal_code,phone,member_code,active\n"
                   "C-1,Good,,,,,,true\n,NoId,,,,,,true\nC-3,,,,,,,maybe\n")
    result = CliRunner().invoke(main, ["--config", str(config_file), "companies", "import", str(csv)])
    assert result.exit_code == 1
    assert "line 3: id '' is not a valid any identifier" in result.output
    assert "line 4: name is empty" in result.output and "line 4: active must be true or false" in result.output
    assert db.session.scalars(db.select(Company)).all() == []


def test_siren_identifiers_are_checked(app, backend, tmp_path):
    path = tmp_path / "siren.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, companies={"identifier_kind": "siren"})))
    csv = tmp_path / "companies.csv"
    csv.write_text("id,name,address,city,postal_code,phone,member_code,active\n"
                   "732 829 320,Valid,,,,,,true\n732829321,Invalid,,,,,,true\n")
    result = CliRunner().invoke(main, ["--config", str(path), "companies", "import", str(csv)])
    assert result.exit_code == 1 and "line 3: id '732829321' is not a valid siren identifier" in result.output


def test_demo_seeds_companies_and_people_once(config_file):
    first = run(config_file, "demo")
    assert first.exit_code == 0 and "Portail-Demo-2026!" in first.output
    assert run(config_file, "demo").exit_code == 0
    db.session.expire_all()
    assert len(db.session.scalars(db.select(Company)).all()) == 2
    roles = {m.role for m in db.session.scalars(db.select(Membership))}
    assert roles == {"order", "order_for_approval", "prices_only"}


def test_pipeline_prints_the_steps(config_file):
    result = run(config_file, "pipeline")
    assert "10  login" in result.output


def test_mail_test_sends_through_the_outbox(config_file, tmp_path):
    result = run(config_file, "mail", "test", "ops@example.com")
    assert result.exit_code == 0 and "1 sent." in result.output
    assert list(Path(tmp_path / "instance" / "mail").glob("*.eml"))


@pytest.fixture
def invitation_config(app, backend, tmp_path):
    from tests.integration.companies.helpers import company_config

    path = tmp_path / "idp.yaml"
    path.write_text(yaml.safe_dump(base_config(backend, tmp_path, **company_config())))
    return path


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [(["--branch", "x" * 101], 1, "The branch name is too long."),
     (["--locale", "de"], 2, "use one of fr, en"),
     (["--role", "emperor"], 1, "Unknown role emperor")],
    ids=["long-branch", "unknown-locale", "unknown-role"],
)
def test_invite_refusals_are_clean_errors(invitation_config, args, code, message):
    from tests.factories import make_company

    make_company("C-1")
    result = CliRunner().invoke(main, ["--config", str(invitation_config), "invite", "--company", " C-1 ",
                                       "--role", "order", *args, "ines@example.com"])
    assert result.exit_code == code and message in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
