"""Translation catalogs: complete for every domain and language, placeholders intact, and the
``garage i18n`` command that keeps them so.

When a catalog test fails after you added strings: run ``make i18n`` (``garage i18n update``), then
translate the new empty ``msgstr`` entries in ``locales/ru`` and ``locales/zh`` (see docs/i18n.md).
"""
import re
import shutil

import pytest
from babel.messages.pofile import read_po

from core.i18n import LANGUAGES, LOCALES_DIR
from core.ui.i18n_tools import BABEL_LOCALE, compile_all, domain_sources, extract, po_path, update

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


@pytest.fixture(scope="module")
def templates():
    """Every domain's msgids, extracted from the tree right now (like `garage i18n extract`)."""
    return {domain: extract(domain, source) for domain, source in domain_sources().items()}


def _catalog(lang, domain):
    path = po_path(lang, domain)
    assert path.exists(), f"{path} is missing: run `make i18n`"
    with path.open("rb") as fh:
        return read_po(fh, locale=BABEL_LOCALE[lang])


def _key(msgid):
    return msgid if isinstance(msgid, str) else msgid[0]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_in_code_and_templates_is_in_every_catalog(templates, lang):
    problems = []
    for domain, template in templates.items():
        catalog = _catalog(lang, domain)
        for message in template:
            if not message.id:
                continue
            entry = catalog.get(message.id, message.context)
            if entry is None:
                problems.append(f"{lang}/{domain}.po lacks {_key(message.id)!r} ({message.locations[0][0]})")
                continue
            if lang == "en":
                continue  # the msgid is English already
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            if not all(s and s.strip() for s in strings) or entry.fuzzy:
                problems.append(f"{lang}/{domain}.po: no translation for {_key(message.id)!r}")
    assert not problems, "run `make i18n` and translate:\n" + "\n".join(problems[:60]) + (
        f"\n... and {len(problems) - 60} more" if len(problems) > 60 else "")


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_translations_keep_their_placeholders(lang):
    problems = []
    for po in sorted((LOCALES_DIR / lang / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=BABEL_LOCALE[lang])
        for message in catalog:
            if not message.id or not message.string:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            wanted = sorted(set(PLACEHOLDER.findall(ids[-1])))
            for s in strings:
                if s and sorted(set(PLACEHOLDER.findall(s))) != wanted:
                    problems.append(f"{po.name}: {ids[0]!r} -> {s!r}")
    assert not problems, "\n".join(problems)


def test_catalogs_pass_pybabels_compile_checks():
    """What `make compile-locales` (pybabel compile) rejects: e.g. a msgid with "(% of the tank)"
    looks like a %-format to Babel, and no honest translation keeps that "placeholder"."""
    problems = []
    for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=BABEL_LOCALE[po.parent.parent.name])
        for message, errors in catalog.check():
            problems += [f"{po.relative_to(LOCALES_DIR)}: {message.id!r}: {e}" for e in errors]
    assert not problems, "\n".join(problems)


def test_there_is_one_domain_per_plugin_plus_core():
    domains = set(domain_sources())
    assert "core" in domains
    plugins = {p.name for p in (LOCALES_DIR.parent / "plugins").iterdir() if (p / "__init__.py").exists()}
    assert plugins <= domains
    # plugin strings do not leak into core's catalog and vice versa
    core_files = {loc[0] for m in extract("core", domain_sources()["core"]) for loc in m.locations}
    assert core_files and all(f.startswith("core/") for f in core_files)


def test_update_creates_merges_and_keeps_translations(tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    ru_core = locales / "ru" / "LC_MESSAGES" / "core.po"
    before = ru_core.read_text(encoding="utf-8")
    assert 'msgstr "Рабочий стол"' in before
    # a stale entry that no code uses any more, and a catalog that does not exist yet
    ru_core.write_text(before + '\nmsgid "An old string nobody uses"\nmsgstr "Старое"\n', encoding="utf-8")
    (locales / "ru" / "LC_MESSAGES" / "fleet.po").unlink()
    report = update(["core", "fleet"], languages=("ru",), locales=locales)
    after = ru_core.read_text(encoding="utf-8")
    assert 'msgstr "Рабочий стол"' in after  # translations survive
    assert "An old string nobody uses" not in after  # removed msgids are dropped
    assert (locales / "ru" / "LC_MESSAGES" / "fleet.po").exists()
    assert report[("ru", "fleet")] >= 1  # the new catalog's strings await a translator
    assert "#, fuzzy" not in after.split("msgid", 2)[1]  # pybabel would refuse a fuzzy header
    from core.ui.i18n_tools import untranslated

    assert "ru/fleet.po" in untranslated(("ru",), locales)
    compiled = compile_all(locales)
    assert locales / "ru" / "LC_MESSAGES" / "core.mo" in compiled


def test_cli_commands(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from core.cli import cli

    # `garage i18n` is available without building the app (no database, no plugins needed)
    result = CliRunner().invoke(cli, ["i18n", "--help"])
    assert result.exit_code == 0 and "extract" in result.output and "update" in result.output
    import core.ui.i18n_tools as tools

    monkeypatch.setattr(tools, "LOCALES_DIR", tmp_path)
    result = CliRunner().invoke(cli, ["i18n", "extract", "--domain", "core"])
    assert result.exit_code == 0, result.output
    pot = (tmp_path / "core.pot").read_text(encoding="utf-8")
    assert 'msgid "Skip to content"' in pot  # from a template
    assert 'msgid "Settings are saved."' in pot  # from Python code


def test_a_plugin_domain_translates_in_the_request_locale(app_without_db):
    from core.i18n import domain

    with app_without_db.test_request_context("/", headers={"Accept-Language": "ru"}):
        assert str(domain("crm").gettext("Clients and cars")) == _catalog("ru", "crm").get("Clients and cars").string
    with app_without_db.test_request_context("/", headers={"Accept-Language": "zh"}):
        assert str(domain("crm").gettext("Clients and cars")) == _catalog("zh", "crm").get("Clients and cars").string


@pytest.fixture
def app_without_db(tmp_path):
    from flask import Flask

    from core import i18n
    from core.ui.i18n_tools import compile_stale

    compile_stale()
    app = Flask(__name__)
    app.config.update(LANGUAGES=list(LANGUAGES), BABEL_DEFAULT_LOCALE="en")
    i18n.init_app(app)
    from flask_login import LoginManager

    login_manager = LoginManager()
    login_manager.init_app(app)  # the locale selector asks whether someone is signed in
    login_manager.user_loader(lambda user_id: None)
    return app
