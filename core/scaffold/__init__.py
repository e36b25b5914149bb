"""``garage plugin new NAME``: write a working third-party plugin package from the templates in
``files/`` (``string.Template`` placeholders such as ``${slug}``, so Jinja and Python braces in the
generated files need no escaping).

The generated project is a normal distribution that registers itself in the ``garage.plugins``
entry-point group, exactly like the built-in plugins:

    garage-<name>/                     setup.cfg (entry point), pyproject.toml, README.md, .gitignore
        garage_<name>/__init__.py      manifest + hooks: models, permissions, entity, menu item
        garage_<name>/models.py        a TenantScoped model and its marshmallow schema
        garage_<name>/migrations/versions/<name>_0001_initial.py
                                       the plugin's Alembic branch (label = slug), depends on core's head
        garage_<name>/locales/ru/LC_MESSAGES/<name>.po
        tests/test_<name>.py           uses the core's fixtures (app, client, tenant, user, login)

The package is ``garage_<name>`` rather than ``<name>`` so a plugin never shadows an unrelated
top-level package of the same name; the slug (entry-point name) stays ``<name>``.
"""
from __future__ import annotations

import keyword
from datetime import datetime, timezone
from pathlib import Path
from string import Template

from ..plugins import CORE_SLUG, SLUG_RE

FILES = Path(__file__).parent / "files"

# The core's migration head that a new plugin branch depends on (every plugin table references
# core_tenant). Stable: core's initial migration keeps this id (tools/reset_migrations.py).
CORE_HEAD = "core_0001"


class ScaffoldError(ValueError):
    """The plugin cannot be generated; the message says why in one line."""


def check_name(name: str, taken: set[str] = frozenset()) -> str:
    if not SLUG_RE.match(name or ""):
        raise ScaffoldError(f"plugin name {name!r}: use 2-31 lower-case letters, digits and '_', starting with a letter")
    if name == CORE_SLUG or keyword.iskeyword(name):
        raise ScaffoldError(f"plugin name {name!r} is reserved")
    if name in taken:
        raise ScaffoldError(f"plugin name {name!r} is already used by an installed plugin")
    return name


def layout(slug: str) -> dict[str, str]:
    """Output path (relative to the project folder) -> template file name."""
    pkg = f"garage_{slug}"
    return {
        "setup.cfg": "setup.cfg.tmpl",
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        ".gitignore": "gitignore.tmpl",
        f"{pkg}/__init__.py": "pkg__init__.py.tmpl",
        f"{pkg}/models.py": "models.py.tmpl",
        f"{pkg}/migrations/versions/{slug}_0001_initial.py": "migration.py.tmpl",
        f"{pkg}/locales/ru/LC_MESSAGES/{slug}.po": "messages.po.tmpl",
        f"tests/test_{slug}.py": "test_plugin.py.tmpl",
    }


def generate(name: str, directory: str | Path = ".", taken: set[str] = frozenset()) -> Path:
    """Write the project ``<directory>/garage-<name with dashes>``; returns its path.

    Refuses (``ScaffoldError``, nothing written) a bad name or a project folder that already exists.
    """
    slug = check_name(name, taken)
    project = Path(directory) / f"garage-{slug.replace('_', '-')}"
    if project.exists():
        raise ScaffoldError(f"{project} already exists; choose another --dir or remove it")
    values = {
        "slug": slug,
        "pkg": f"garage_{slug}",
        "dist": f"garage-{slug.replace('_', '-')}",
        "title": slug.replace("_", " ").title(),
        "core_head": CORE_HEAD,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    }
    rendered = {path: Template((FILES / tmpl).read_text(encoding="utf-8")).substitute(values)
                for path, tmpl in layout(slug).items()}
    for path, text in rendered.items():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return project
