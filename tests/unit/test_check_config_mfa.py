"""`idp check-config` checks the company selectors of mfa.required_for against the directory."""

import yaml
from click.testing import CliRunner

from idp.cli import main


def check(tmp_path, required_for, directory="config/companies.csv"):
    path = tmp_path / "idp.yaml"
    document = {"issuer": "https://login.example.com", "secret_key": "s" * 40, "flows": ["login", "mfa"],
                "mfa": {"required_for": required_for}}
    if directory is not None:
        document["companies"] = {"directory": directory}
    path.write_text(yaml.safe_dump(document))
    return CliRunner().invoke(main, ["check-config", str(path)])


def test_a_company_of_the_directory_is_accepted(tmp_path):
    result = check(tmp_path, ["company:C-10002", "operators"])
    assert result.exit_code == 0, result.output


def test_an_unknown_company_is_an_error_with_its_key_path(tmp_path):
    result = check(tmp_path, ["operators", "company:C-99999"])
    assert result.exit_code == 1
    assert "  mfa.required_for[1]: unknown company 'C-99999' (not in companies.directory)" in result.output


def test_without_a_directory_a_company_selector_cannot_be_checked(tmp_path):
    result = check(tmp_path, ["company:C-10002"], directory=None)
    assert result.exit_code == 1 and "company selectors need a readable companies.directory" in result.output
