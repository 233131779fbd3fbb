"""The company directory in YAML, and `idp companies import` reading the file the configuration names."""

import yaml

from idp.extensions import db
from idp.models import Company
from tests.conftest import base_config
from tests.integration.companies.helpers import run_cli

COMPANIES = [
    {"id": "732829320", "name": "Durand SARL", "address": "1 rue de la Paix", "city": "Lyon",
     "postal_code": "69001", "phone": "+33 4 00 00 00 00", "member_code": "DURAND-1", "active": True},
    {"id": "552100554", "name": "Martin", "address": "", "city": "Nantes", "postal_code": "44000",
     "phone": "", "member_code": None, "active": False},
]


def run(path, *args):
    return run_cli(["--config", str(path), "companies", "import", *args])


def test_yaml_directory_named_by_the_configuration(app, backend, tmp_path):
    directory = tmp_path / "companies.yaml"
    directory.write_text(yaml.safe_dump(COMPANIES))
    config = tmp_path / "idp.yaml"
    config.write_text(yaml.safe_dump(base_config(backend, tmp_path, companies={
        "directory": str(directory), "identifier_kind": "siren"})))
    result = run(config)
    assert result.exit_code == 0 and "2 created, 0 updated." in result.output, result.output
    db.session.expire_all()
    durand = db.session.execute(db.select(Company).where(Company.external_id == "732829320")).scalar_one()
    assert (durand.name, durand.city, durand.active) == ("Durand SARL", "Lyon", True)
    assert durand.check_member_code("DURAND-1")
    martin = db.session.execute(db.select(Company).where(Company.external_id == "552100554")).scalar_one()
    assert martin.active is False and martin.member_code_hash is None


def test_bad_yaml_items_are_all_reported(app, backend, tmp_path):
    directory = tmp_path / "companies.yml"
    directory.write_text(yaml.safe_dump([{**COMPANIES[0], "id": "732829321"}, {**COMPANIES[1], "active": "maybe"}]))
    config = tmp_path / "idp.yaml"
    config.write_text(yaml.safe_dump(base_config(backend, tmp_path, companies={"identifier_kind": "siren"})))
    result = run(config, str(directory))
    assert result.exit_code == 1
    assert "item 1: id '732829321' is not a valid siren identifier" in result.output
    assert "item 2: active must be true or false, not 'maybe'" in result.output
    assert db.session.execute(db.select(Company)).first() is None


def test_no_file_and_no_directory_is_a_usage_error(app, backend, tmp_path):
    config = tmp_path / "idp.yaml"
    config.write_text(yaml.safe_dump(base_config(backend, tmp_path)))
    result = run(config)
    assert result.exit_code == 2 and "companies.directory" in result.output
