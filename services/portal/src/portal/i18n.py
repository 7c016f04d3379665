"""Simplified Chinese by default, English on request: gettext catalogues, one per page group.

Message ids are the English texts. `locale/zh_CN/LC_MESSAGES/*.po` hold the Chinese (one file per page group,
merged at start-up, so engineers working on different pages never edit the same file); English needs no
catalogue. The API's stable error codes are message ids too (`error.<code>`, in errors.po), so a refusal from
a service is shown in the caller's language; a code without a translation falls back to the API's own message.

The language of a request comes from the `lang` cookie (set by the switch in the page header), else zh.
"""

import io
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("zh", "en")
DEFAULT = "zh"
CATALOGUES = Path(__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES"
LANG: ContextVar[str] = ContextVar("lang", default=DEFAULT)


def po_files() -> Iterator[Path]:
    return iter(sorted(CATALOGUES.glob("*.po")))


@cache
def translations(lang: str) -> NullTranslations:
    if lang != "zh":
        return NullTranslations()
    merged = Catalog(locale="zh_CN", domain="messages")
    for path in po_files():
        with path.open("rb") as file:
            for message in read_po(file, locale="zh_CN", domain=path.stem):
                if message.id and message.string:
                    merged[message.id] = message
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def gettext(message: str) -> str:
    return translations(LANG.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(LANG.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    return message


def error_message(code: str, fallback: str) -> str:
    """A service's refusal in the caller's language: errors.po translates `error.<code>`."""
    msgid = f"error.{code}"
    translated = gettext(msgid)
    if translated != msgid:
        return translated
    return fallback if LANG.get() != "zh" or not code else f"{fallback} ({code})"


def pick(cookie: str | None) -> str:
    return cookie if cookie in LOCALES else DEFAULT
