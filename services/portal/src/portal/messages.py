"""`python -m portal.messages`: every message id the pages use, and which have no Chinese yet.

Message ids are collected from the Python modules (`_`, `gettext`, `ngettext`, `N_`) and the templates
(`_`, `gettext`, `ngettext`), with Babel's extractors. `--add FILE.po` appends the missing ones to that
catalogue with an empty translation, for a person to fill in; the unit tests fail while any is missing.
"""

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.extract import extract_from_dir

from portal.i18n import po_files, translations

HERE = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def used() -> dict[str, str]:
    """msgid -> where it is first used (file:line)."""
    found: dict[str, str] = {}
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for filename, line, message, _, _ in extract_from_dir(
        HERE, method_map, options_map=options, keywords=KEYWORDS
    ):  # fmt: skip
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{line}")
    return found


def missing() -> Iterator[tuple[str, str]]:
    zh = translations("zh")
    for msgid, where in sorted(used().items(), key=lambda item: item[1]):
        if zh.gettext(msgid) == msgid:
            yield msgid, where


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.messages", description=__doc__)
    parser.add_argument("--add", type=Path, help="append the missing message ids to this .po file")
    args = parser.parse_args(argv)
    gaps = list(missing())
    for msgid, where in gaps:
        print(f"{where}\t{msgid}")
    if args.add and gaps:
        with args.add.open("a", encoding="utf-8") as po:
            for msgid, where in gaps:
                po.write(f'\n#: {where}\nmsgid {_po_quote(msgid)}\nmsgstr ""\n')
    catalogues = ", ".join(p.name for p in po_files())
    print(f"{len(gaps)} message(s) without Chinese; catalogues: {catalogues}", file=sys.stderr)
    return 1 if gaps else 0


if __name__ == "__main__":
    raise SystemExit(main())
