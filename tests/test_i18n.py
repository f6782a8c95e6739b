"""The Chinese interface (zh-CN): the catalogue is complete, the app speaks it, the URL does not.

Three layers, as for the rest of the app: the catalogue against what Babel extracts from
the code (with the project's own ``babel.cfg``), the script under AppTest, and one run in
a real Chromium (the tabs, the sidebar and the map's legend in Chinese, then back to
English through the selector).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from streamlit.testing.v1 import AppTest

from geo.core.errors import DataReadError, UnknownLanguageError
from geo.core.i18n import (
    LANGUAGES,
    catalogue_path,
    language_of_locale,
    translations,
    translator,
)
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    MAP_FRAME,
    WAIT,
    _idle,
    browser,
    open_tab,
    page,
    server,
)

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
SITE = "AWS-000522"
#: The tabs every local user sees, English (the URL's names) and Chinese.
TABS = {"1.1.1 checklist": "1.1.1 清单", "IWRAs": "重要涉水区域", "Water chain": "供排水链",
        "Portfolio": "场所总览", "Site record": "场所档案", "Export": "导出"}
SIDEBAR_ZH = {"selectbox": ["场所", "底图"], "radio": ["工作区", "地图模式"],
              "text_input": ["查找要素", "重要涉水区域缓冲带（公里）"]}


# --- the catalogue ------------------------------------------------------------------------


def _extracted() -> dict[str, list[str]]:
    """msgid -> the files it comes from, as ``pybabel extract -F babel.cfg .`` finds them."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)

    def wanted(folder: str) -> bool:  # only where babel.cfg looks (not .venv, data, tests)
        relative = Path(folder).resolve().relative_to(REPO).parts
        return not relative or relative[0] in {"ui", "geo"}

    found: dict[str, list[str]] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            REPO, method_map, options_map, directory_filter=wanted):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(filename)
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    found = _extracted()
    assert len(found) > 150, "Babel found too few texts: is babel.cfg still right?"
    return found


@pytest.fixture(scope="module")
def catalogue() -> Any:
    with catalogue_path("zh-CN").open("rb") as handle:
        return read_po(handle, locale="zh_CN", abort_invalid=True)


def _fields(text: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(text) if field is not None}


def test_every_text_of_the_code_is_translated(extracted, catalogue) -> None:
    missing = [f"{m!r} ({', '.join(sorted(set(files)))})" for m, files in extracted.items()
               if m not in catalogue]
    untranslated = [m for m in extracted if m in catalogue and not catalogue[m].string]
    fuzzy = [message.id for message in catalogue if message.id and message.fuzzy]
    assert not missing, ("texts missing from the zh_CN catalogue (README: Translations, "
                         "pybabel extract … && pybabel update …):\n" + "\n".join(missing))
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy (to review, then drop the flag): {fuzzy}"


def test_translations_keep_their_placeholders(catalogue) -> None:
    wrong = [(message.id, message.string) for message in catalogue
             if message.id and message.string
             and _fields(message.id) != _fields(message.string)]
    assert not wrong, wrong
    for message in catalogue:  # and str.format accepts them (no stray brace)
        if message.id and message.string:
            values = dict.fromkeys(_fields(message.id), "x")
            message.string.format(**values)


def _underscore_calls_in_fstrings(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) \
                        and inner.func.id in {"_", "N_", "gettext"}:
                    lines.append(inner.lineno)
    return lines


def test_no_text_is_marked_inside_an_fstring() -> None:
    """On Python 3.11 Babel reads an f-string as one token: a ``_()`` inside it is lost."""
    files = [REPO / "app.py", *sorted((REPO / "ui").glob("*.py")),
             *sorted((REPO / "geo").rglob("*.py"))]
    hidden = {str(p.relative_to(REPO)): lines for p in files
              if (lines := _underscore_calls_in_fstrings(p))}
    assert not hidden, f"_() inside f-strings (Babel cannot extract them): {hidden}"


def _tab_names() -> list[str]:
    """Every tab name app.py can show (the N_("…") strings of its ``names`` list)."""
    tree = ast.parse((REPO / "app.py").read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.AugAssign,)) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) \
                and isinstance(node.value.func, ast.Attribute) \
                and isinstance(node.value.func.value, ast.Name):
            targets = [node.value.func.value.id]
        if "names" in targets:
            names += [c.args[0].value for c in ast.walk(node)
                      if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                      and c.func.id == "N_" and isinstance(c.args[0], ast.Constant)]
    return names


def test_tab_names_have_distinct_translations() -> None:
    names = _tab_names()
    assert {"1.1.1 checklist", "Water chain", "Admin"} <= set(names), names
    gettext = translator("zh-CN")
    shown = [gettext(name) for name in names]
    assert all(label != name for label, name in zip(shown, names, strict=True)), shown
    assert len(set(shown)) == len(shown), shown  # st.tabs needs unique labels


def test_languages_and_locales() -> None:
    assert list(LANGUAGES) == ["en", "zh-CN"]
    for locale in ("zh-CN", "zh", "zh_Hans_CN", "zh-TW", "ZH-cn"):
        assert language_of_locale(locale) == "zh-CN", locale
    for locale in (None, "", "en-US", "de", "fr-CH", "zu"):
        assert language_of_locale(locale) == "en", locale
    assert translator("en")("Legend") == "Legend"
    assert translator("zh-CN")("Legend") == "图例"
    assert translator("zh-CN")("no such text") == "no such text"  # falls back to English
    with pytest.raises(UnknownLanguageError, match="the app speaks: en, zh-CN"):
        translations("fr")


def test_a_broken_catalogue_says_which_file(tmp_path, monkeypatch) -> None:
    import geo.core.i18n as i18n

    broken = tmp_path / "zh_CN" / "LC_MESSAGES"
    broken.mkdir(parents=True)
    (broken / "catchscope.po").write_text('msgid "a"\nnonsense\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        with pytest.raises(DataReadError, match=r"zh-CN translations in .*catchscope\.po"):
            i18n.translations("zh-CN")
    finally:
        monkeypatch.undo()
        i18n.translations.cache_clear()


def test_the_catalogue_is_package_data() -> None:
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["geo.core"]
    path = catalogue_path("zh-CN").relative_to(REPO / "geo" / "core")
    assert any(path.match(pattern) for pattern in patterns), patterns
    assert any(re.match(r"babel>=", d) for d in data["project"]["dependencies"])


# --- the map -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_map() -> Any:
    from geo.core.workspace import open_workspace
    from geo.maps.build import prepare_map
    from geo.scope.assess import assess_site

    ws = open_workspace()
    if SITE not in ws.records:
        pytest.skip("the demo workspace has no site AWS-000522")
    return prepare_map(ws, assess_site(ws, SITE))


def test_the_map_legend_and_controls_speak_the_language_of_the_map_data(demo_map) -> None:
    from geo.maps.build import render_map
    from geo.maps.draw import _legend_html

    english = _legend_html(demo_map)
    chinese = _legend_html(replace(demo_map, lang="zh-CN"))
    assert "<b>Legend</b>" in english and "illustrative" in english
    assert "<b>图例</b>" in chinese and "示意" in chinese and "Legend" not in chinese
    assert "供排水链（水流方向）" in chinese and "<b>点线</b>" in chinese
    # data stays as it is: the bilingual basin title, the site's label
    assert "Taihu Lake basin (太湖流域)" in chinese and demo_map.title in chinese
    html = render_map(replace(demo_map, lang="zh-CN")).get_root().render()
    for words in ("缩放至", "打印此视图", "纬度, 经度", "全屏"):  # in HTML, or as JSON escapes
        assert words in html or json.dumps(words)[1:-1] in html, words


def test_a_translation_is_escaped_like_data(demo_map, monkeypatch) -> None:
    import geo.maps.draw as draw

    hostile = {"Legend": "<img src=x onerror=alert(1)>", "Dotted": "{{ 7*7 }}"}
    monkeypatch.setattr(draw, "translator", lambda lang: lambda m: hostile.get(m, m))
    html = draw._legend_html(replace(demo_map, lang="zh-CN"))
    assert "<img" not in html and "&lt;img src=x" in html
    assert "{{" not in html


# --- the app (AppTest) --------------------------------------------------------------------


def _app(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def _labels(widgets: Any) -> list[str]:
    return [w.label for w in widgets]


def test_the_app_speaks_chinese_from_the_url() -> None:
    at = _app(lang="zh-CN", site=SITE)
    assert not at.exception, at.exception
    for kind, labels in SIDEBAR_ZH.items():
        assert set(labels) <= set(_labels(getattr(at.sidebar, kind))), kind
    assert "Language / 语言" in _labels(at.sidebar.selectbox)
    tabs = _labels(at.tabs)
    assert all(label in tabs for label in TABS.values()), tabs
    assert not set(TABS) & set(tabs)
    assert [s.value for s in at.subheader][:1] == ["所选要素"]
    texts = " ".join(str(m.value) for m in at.markdown)
    assert "**认证记录**" in texts and "**AWS 编号:**" in texts
    assert at.query_params["lang"] == ["zh-CN"] or at.query_params["lang"] == "zh-CN"


def test_english_by_default_and_nothing_in_the_url() -> None:
    at = _app()
    assert not at.exception, at.exception
    assert {"Site", "Basemap"} <= set(_labels(at.sidebar.selectbox))
    assert set(TABS) <= set(_labels(at.tabs))
    assert "lang" not in at.query_params


def test_the_urls_tab_stays_english_in_chinese_and_back() -> None:
    at = _app(lang="zh-CN", tab="Water chain")
    assert not at.exception, at.exception
    assert at.session_state["tab:zh-CN"] == "供排水链"  # the URL's tab is open
    assert _value(at.query_params, "tab") == "Water chain"
    # the selector switches back to English: English labels, the same tab, no lang
    selector = next(s for s in at.sidebar.selectbox if s.label == "Language / 语言")
    selector.set_value("en").run()
    assert not at.exception, at.exception
    assert "Site" in _labels(at.sidebar.selectbox)
    assert at.session_state["tab"] == "Water chain"
    assert "lang" not in at.query_params
    # and to Chinese again, the URL saying so
    selector = next(s for s in at.sidebar.selectbox if s.label == "Language / 语言")
    selector.set_value("zh-CN").run()
    assert not at.exception, at.exception
    assert "场所" in _labels(at.sidebar.selectbox)
    assert _value(at.query_params, "lang") == "zh-CN"
    assert at.session_state["tab:zh-CN"] == "供排水链"
    # the first tab in Chinese (no tab in the URL), then English: the first tab again
    at.session_state["tab:zh-CN"] = "1.1.1 清单"
    at.run()
    assert "tab" not in at.query_params
    selector = next(s for s in at.sidebar.selectbox if s.label == "Language / 语言")
    selector.set_value("en").run()
    assert not at.exception, at.exception
    assert at.session_state["tab"] == "1.1.1 checklist" and "tab" not in at.query_params


def _value(params: Any, key: str) -> str:
    value = params[key]
    return value[0] if isinstance(value, list) else value


def test_bilingual_names_beside_the_map_and_in_the_search() -> None:
    at = _app(lang="zh-CN", site=SITE)
    find = next(t for t in at.sidebar.text_input if t.label == "查找要素")
    find.input("白家荡").run()
    assert not at.exception, at.exception
    hits = [b.label for b in at.sidebar.button]
    assert any(label.startswith("Baijiadang Lake") and "白家荡" in label for label in hits), hits
    assert any("找到" in str(c.value) for c in at.sidebar.caption)


def test_every_tab_runs_in_chinese() -> None:
    at = _app(lang="zh-CN", site=SITE)
    for name in ("IWRAs", "Water chain", "Site record", "Export", "Attribute table",
                 "Map vs report", "Rasters"):
        at.query_params["tab"] = name
        at.session_state["tab:zh-CN"] = translator("zh-CN")(name)
        at.run()
        assert not at.exception, (name, at.exception)
    at = _app(lang="zh-CN")
    site = next(s for s in at.sidebar.selectbox if s.label == "场所")
    site.set_value("All sites").run()
    at.query_params["tab"] = "Portfolio"  # the portfolio, in its tab
    at.session_state["tab:zh-CN"] = translator("zh-CN")("Portfolio")
    at.run()
    assert not at.exception, at.exception
    assert any("全部场所表格" in str(m.value) for m in at.markdown)


def test_the_sign_in_page_and_the_session_speak_chinese(tmp_path, monkeypatch) -> None:
    from geo.serve.accounts import hash_password
    from geo.serve.launch import SERVER_CONFIG_ENV

    config = tmp_path / "server.toml"
    config.write_text(f"""
[accounts.vera]
name = "Vera Viewer"
role = "viewer"
password_hash = "{hash_password('a long passphrase', rounds=4)}"
""", encoding="utf-8")
    monkeypatch.setenv(SERVER_CONFIG_ENV, str(config))
    at = _app(lang="zh-CN")
    assert not at.exception, at.exception
    assert _labels(at.text_input) == ["用户名", "密码"]
    assert "Language / 语言" in _labels(at.sidebar.selectbox)
    at.text_input[0].input("vera")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["用户名或密码错误。"]
    at.text_input[1].input("a long passphrase")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "场所" in _labels(at.sidebar.selectbox)  # signed in, still in Chinese
    assert any("已登录" in str(c.value) for c in at.sidebar.caption)
    next(b for b in at.sidebar.button if b.label == "退出登录").click().run()
    assert [i.value for i in at.info] == ["您已退出登录。"]
    assert _labels(at.text_input) == ["用户名", "密码"]


# --- in Chromium ----------------------------------------------------------------------------


@pytest.mark.browser
def test_chinese_in_the_browser_then_english(server: str, page: Any) -> None:  # noqa: F811
    pg, watch = page
    pg.goto(f"{server}/?lang=zh-CN&site={SITE}")
    for label in TABS.values():
        pg.get_by_role("tab", name=label, exact=True).wait_for(timeout=120_000)
    sidebar = pg.locator("[data-testid=stSidebarUserContent]")
    for label in ("场所", "底图", "地图模式", "图层", "查找要素"):
        sidebar.get_by_text(label, exact=True).first.wait_for(timeout=60_000)
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    frame = pg.frame_locator(MAP_FRAME)
    frame.locator(".cs-legend summary b").filter(has_text="图例").wait_for(timeout=120_000)
    legend = frame.locator(".cs-legend").inner_text()
    assert "Taihu Lake basin (太湖流域)" in legend  # a bilingual title as the data has it
    # the URL keeps the English tab name, whatever the language
    open_tab(pg, "供排水链")
    pg.wait_for_function("() => new URL(location.href).searchParams.get('tab') "
                         "=== 'Water chain'", timeout=WAIT)
    # the selector back to English: tabs, sidebar and legend in English, the tab kept
    _idle(pg)
    pg.get_by_role("combobox", name="Language / 语言").click()
    pg.get_by_role("option", name="English", exact=True).click()
    pg.get_by_role("tab", name="Water chain", exact=True).wait_for(timeout=60_000)
    assert pg.get_by_role("tab", name="Water chain").get_attribute("aria-selected") == "true"
    sidebar.get_by_text("Basemap", exact=True).wait_for(timeout=60_000)
    pg.wait_for_function("() => !new URL(location.href).searchParams.has('lang')",
                         timeout=WAIT)
    _idle(pg)
    pg.frame_locator(MAP_FRAME).locator(".cs-legend summary b").filter(
        has_text="Legend").wait_for(timeout=120_000)
    assert watch.external == [], watch.external
    assert watch.errors == [], watch.errors
