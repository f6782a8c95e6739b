"""Translations of the user interface: gettext catalogues read from their ``.po`` files.

The app's fixed texts (sidebar, tabs, panel headings, the map's legend and controls) are
English ``msgid`` strings marked with ``_()`` (or :func:`N_` where the text is only
declared, not shown, e.g. a basemap's label); a language's catalogue is
``geo/core/locale/<folder>/LC_MESSAGES/catchscope.po``, package data.  It is read at run
time with Babel (``read_po`` → ``write_mo`` into memory → :class:`gettext.GNUTranslations`)
and cached per process, so no compiled ``.mo`` is committed and an edited ``.po`` is the
whole change.  A text without a translation (or a fuzzy one) falls back to English.

Nothing here keeps a "current language": callers pass the language (``MapData.lang``, the
app's session), so two users of one server can read two languages.  Placeholders are
``str.format`` fields (``{count}``); a translation keeps the same fields (a test checks).

Updating the catalogue (README, "Translations"): ``pybabel extract -F babel.cfg
--add-location=file -o build/catchscope.pot .`` then ``pybabel update -i
build/catchscope.pot -d geo/core/locale -D catchscope -w 100``.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from pathlib import Path

from geo.core.errors import DataReadError, UnknownLanguageError

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "catalogue_path",
           "language_of_locale", "translations", "translator"]

#: The gettext domain: the catalogue files are ``catchscope.po``.
DOMAIN = "catchscope"
#: Where the catalogues live (package data of ``geo.core``).
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: Language tag (as in a URL, BCP 47) -> its name in that language, for a language menu.
LANGUAGES: dict[str, str] = {"en": "English", "zh-CN": "中文（简体）"}
#: The language of the msgids: needs no catalogue.
DEFAULT_LANGUAGE = "en"
#: Language tag -> gettext locale folder.
_FOLDERS = {"zh-CN": "zh_CN"}


def N_(message: str) -> str:  # (gettext's conventional name)
    """Mark ``message`` for extraction without translating it (translated where shown)."""
    return message


def language_of_locale(locale: str | None) -> str:
    """The app language for a browser locale: ``zh*`` → ``"zh-CN"``, anything else English.

    Parameters
    ----------
    locale : str or None
        A BCP 47 tag as the browser reports it (``"zh-CN"``, ``"zh_Hans_CN"``,
        ``"en-GB"``); None or empty when unknown.
    """
    tag = (locale or "").strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith("zh-"):
        return "zh-CN"
    return DEFAULT_LANGUAGE


def catalogue_path(language: str) -> Path:
    """The ``.po`` file of ``language`` (a key of :data:`LANGUAGES` other than English)."""
    if language not in _FOLDERS:
        known = ", ".join(LANGUAGES)
        raise UnknownLanguageError(f"No translation for language {language!r}; "
                                   f"the app speaks: {known}.")
    return LOCALE_DIR / _FOLDERS[language] / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The translations of ``language`` (cached per process; English: no catalogue).

    Raises
    ------
    UnknownLanguageError
        ``language`` is not one of :data:`LANGUAGES`.
    DataReadError
        Its catalogue is missing or does not parse.
    """
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    path = catalogue_path(language)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import PoFileError, read_po

    try:
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=_FOLDERS[language], domain=DOMAIN,
                                abort_invalid=True)
    except OSError as err:
        raise DataReadError(f"The {language} translations cannot be read from {path}: "
                            f"{err.strerror or err}.") from err
    except (PoFileError, ValueError) as err:  # (a bad encoding is a ValueError too)
        raise DataReadError(f"The {language} translations in {path} do not parse: {err}. "
                            "Check the file with `pybabel compile --statistics`.") from err
    compiled = io.BytesIO()
    write_mo(compiled, catalogue, use_fuzzy=False)  # a fuzzy entry stays English
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translator(language: str) -> Callable[[str], str]:
    """``gettext`` of ``language``: the translation of a msgid, or the msgid itself."""
    return translations(language).gettext
