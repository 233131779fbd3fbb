"""Keep the catalogues complete: English msgstr = msgid (the source language); list what French lacks.

Run by `make catalogues` after `pybabel update`; `--apply FILE.json` merges French translations
({"msgid": "traduction"}) first. Exit status 1 when a French message is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "idp" / "translations"


def _load(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _save(catalog, path: Path) -> None:
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=False, no_location=True, sort_output=True, width=100)


def apply(path: Path) -> None:
    """Merge {"English msgid": "French"} from a JSON file into the French catalogue."""
    import json

    fr_path = ROOT / "fr" / "LC_MESSAGES" / "messages.po"
    fr = _load(fr_path)
    texts = json.loads(path.read_text(encoding="utf-8"))
    for msgid, text in texts.items():
        message = fr.get(msgid)
        if message is None:
            if not any(isinstance(m.id, tuple) and msgid == m.id[1] for m in fr):
                print(f"fr: not in the catalogue (run make catalogues first): {msgid!r}")
            continue
        if isinstance(message.id, tuple):
            # A plural message: its singular and plural msgids are two keys of the file.
            plural = message.id[1]
            message.string = (text, texts.get(plural, text))
        else:
            message.string = text
        message.flags.discard("fuzzy")
    _save(fr, fr_path)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--apply":
        apply(Path(sys.argv[2]))
    for pending in sorted((Path(__file__).parent / "fr-pending").glob("*.json")):
        apply(pending)
    en_path = ROOT / "en" / "LC_MESSAGES" / "messages.po"
    en = _load(en_path)
    for message in en:
        if isinstance(message.id, tuple):
            if not all(message.string):
                message.string = message.id
        elif message.id and not message.string:
            message.string = message.id
        message.flags.discard("fuzzy")
    _save(en, en_path)
    fr = _load(ROOT / "fr" / "LC_MESSAGES" / "messages.po")
    missing = [m.id for m in fr if m.id and (not m.string or "fuzzy" in m.flags or
                                            (isinstance(m.string, tuple) and not all(m.string)))]
    for msgid in missing:
        print(f"fr: missing translation: {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
