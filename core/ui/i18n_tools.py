"""Translation catalogs: ``garage i18n extract|update|compile`` (see docs/i18n.md).

One gettext domain per plugin plus ``core``:

* ``core``   <- ``core/**.py`` and ``core/templates/**.html``
* ``<slug>`` <- ``plugins/<slug>/**.py`` and ``plugins/<slug>/templates/**.html``

``extract`` writes ``locales/<domain>.pot``; ``update`` merges every template into
``locales/<lang>/LC_MESSAGES/<domain>.po`` for each language (creating missing catalogs, keeping
existing translations, marking removed msgids obsolete); ``compile`` writes the ``.mo`` files the app
reads. The babel Python API is used directly, so the command needs no ``pybabel`` on PATH.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from ..i18n import LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parent
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
    "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None,
    "_w": None,  # the workshop plugin's template global for its domain (plugins/workshop/printing.py)
}
METHOD_MAP = [
    ("**/migrations/**", "ignore"),
    ("**/static/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
]
OPTIONS_MAP = {"**/templates/**.html": {"extensions": "jinja2.ext.do", "trimmed": "false"}}
# Babel's locale for each UI language code (zh is Simplified Chinese).
BABEL_LOCALE = {"en": "en", "ru": "ru", "zh": "zh_Hans"}


def domain_sources(root: Path = ROOT) -> dict[str, Path]:
    """Domain -> the folder its msgids are extracted from."""
    out = {"core": root / "core"}
    plugins = root / "plugins"
    if plugins.is_dir():
        for folder in sorted(plugins.iterdir()):
            if (folder / "__init__.py").is_file():
                out[folder.name] = folder
    return out


def extract(domain: str, source: Path) -> Catalog:
    catalog = Catalog(project="Garage ERP", domain=domain, charset="utf-8", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(source), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    ):
        path = (source / filename).relative_to(ROOT).as_posix()
        catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return catalog


NAMED_PLACEHOLDER = re.compile(r"%\(\w+\)")


def _drop_false_python_format(catalog: Catalog) -> None:
    """Babel flags any ``%`` followed by a letter as python-format ("(% of the tank)"), and then
    ``pybabel compile`` rejects a translation without the same "placeholder". Flask-Babel formats with
    named placeholders only, so a msgid without ``%(name)s`` is plain text."""
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        if "python-format" in message.flags and not any(NAMED_PLACEHOLDER.search(i or "") for i in ids):
            message.flags.discard("python-format")


def po_path(lang: str, domain: str, locales: Path = LOCALES_DIR) -> Path:
    return locales / lang / "LC_MESSAGES" / f"{domain}.po"


_DATES = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date): [^"]*\\n"$', re.M)


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    # No line numbers, and an unchanged catalog is not rewritten (its dates stay): catalogs change
    # only when a msgid or a translation changes, which keeps parallel work mergeable.
    write_po(buf, catalog, width=100, omit_header=False, include_lineno=False, sort_output=True,
             ignore_obsolete=True)
    new = buf.getvalue()
    if path.exists() and _DATES.sub(b"", path.read_bytes()) == _DATES.sub(b"", new):
        return
    path.write_bytes(new)


def _read(path: Path, lang: str) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=BABEL_LOCALE.get(lang, lang))


def update(domains: list[str] | None = None, languages=LANGUAGES, locales: Path = LOCALES_DIR) -> dict:
    """Extract and merge into every catalog. Returns {(lang, domain): number of untranslated}."""
    report = {}
    for domain, source in domain_sources().items():
        if domains and domain not in domains:
            continue
        template = extract(domain, source)
        for lang in languages:
            path = po_path(lang, domain, locales)
            if path.exists():
                catalog = _read(path, lang)
            else:
                catalog = Catalog(locale=BABEL_LOCALE.get(lang, lang), domain=domain, project="Garage ERP",
                                  charset="utf-8")
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.fuzzy = False  # a fuzzy header makes `pybabel compile` skip the whole catalog
            _drop_false_python_format(catalog)
            catalog.revision_date = catalog.creation_date  # stable header, see _write
            catalog.last_translator = "Garage ERP team"
            catalog.project, catalog.version = "Garage ERP", "0.1"
            _write(catalog, path)
            report[(lang, domain)] = sum(1 for m in catalog if m.id and not m.string)
    return report


def compile_all(locales: Path = LOCALES_DIR) -> list[Path]:
    written = []
    for po in sorted(locales.glob("*/LC_MESSAGES/*.po")):
        catalog = _read(po, po.parent.parent.name)
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        written.append(po.with_suffix(".mo"))
    return written


def compile_stale(locales: Path = LOCALES_DIR) -> list[Path]:
    """Compile only the catalogs whose .mo is missing or older than the .po."""
    written = []
    for po in sorted(locales.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with mo.open("wb") as fh:
            write_mo(fh, _read(po, po.parent.parent.name), use_fuzzy=False)
        written.append(mo)
    return written


@click.group("i18n")
def i18n_group():
    """Translation catalogs (one gettext domain per plugin plus core)."""


@i18n_group.command("extract")
@click.option("--domain", "domains", multiple=True, help="only these domains (default: all)")
def extract_cmd(domains):
    """Write locales/<domain>.pot templates from the code and templates."""
    for domain, source in domain_sources().items():
        if domains and domain not in domains:
            continue
        path = LOCALES_DIR / f"{domain}.pot"
        _write(extract(domain, source), path)
        click.echo(str(path))


@i18n_group.command("update")
@click.option("--domain", "domains", multiple=True, help="only these domains (default: all)")
def update_cmd(domains):
    """Extract and merge new msgids into every locales/<lang>/LC_MESSAGES/<domain>.po."""
    report = update(list(domains) or None)
    for (lang, domain), missing in sorted(report.items()):
        flag = f"{missing} untranslated" if missing else "complete"
        click.echo(f"{lang}/{domain}.po: {flag}")


def untranslated(languages=("ru", "zh"), locales: Path = LOCALES_DIR) -> dict[str, list[str]]:
    """``"ru/crm.po"`` -> msgids with an empty (or fuzzy) translation."""
    out: dict[str, list[str]] = {}
    for lang in languages:
        for po in sorted((locales / lang / "LC_MESSAGES").glob("*.po")):
            catalog = _read(po, lang)
            missing = []
            for m in catalog:
                if not m.id:
                    continue
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                if m.fuzzy or not all(s and s.strip() for s in strings):
                    missing.append(m.id if isinstance(m.id, str) else m.id[0])
            if missing:
                out[f"{lang}/{po.name}"] = missing
    return out


@i18n_group.command("missing")
def missing_cmd():
    """List the msgids that still need a Russian or Chinese translation (exit 1 when there are any)."""
    report = untranslated()
    for catalog, msgids in report.items():
        click.echo(f"{catalog}: {len(msgids)}")
        for msgid in msgids:
            click.echo(f"    {msgid}")
    if report:
        raise SystemExit(1)
    click.echo("every catalog is translated")


@i18n_group.command("compile")
def compile_cmd():
    """Compile every .po catalog to .mo (what the running app reads)."""
    for path in compile_all():
        click.echo(str(path))
