"""Every message of the code and templates is translated in both catalogues."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "idp" / "translations"


def extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    babel = Path(sys.executable).parent / "pybabel"
    subprocess.run([str(babel), "-q", "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "-o", str(pot), "."], cwd=ROOT, check=True, timeout=120)
    with pot.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


def translated(language: str) -> dict[str, bool]:
    with (CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    result = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        result[key] = all(strings) and "fuzzy" not in message.flags
    return result


def test_every_message_is_translated_in_french_and_english(tmp_path):
    wanted = extracted_ids(tmp_path)
    for language in ("fr", "en"):
        have = translated(language)
        missing = sorted(m for m in wanted if not have.get(m))
        assert missing == [], f"{language}: {len(missing)} untranslated (run make catalogues): {missing[:10]}"


def test_placeholders_survive_translation():
    import re

    with (CATALOGUES / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        for message in read_po(handle):
            if message.id and isinstance(message.id, str) and message.string:
                assert set(re.findall(r"%\(\w+\)s", message.id)) == set(re.findall(r"%\(\w+\)s", message.string)), \
                    message.id
