"""Test fixtures for Garage ERP and its plugins (a pytest plugin, registered as ``pytest11: garage``).

Fixtures: ``app`` (runs once per database backend: SQLite and PostgreSQL), ``client``, ``runner``,
``tenant`` (factory: ``tenant(tier="master")``), ``user`` (factory: ``user(role="owner", tenant=t)``),
``login`` (``login(client, u)``), ``token`` (``token(u)`` -> API token text) and ``db_url``.

Each test gets a database of its own, cloned from a template migrated once per run: a file copy on
SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL. Names carry a per-run id, so parallel runs
never collide, and every database is dropped at the end.

Options: ``--db sqlite,postgresql`` (or ``GARAGE_TEST_DB``); the PostgreSQL server is
``GARAGE_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``). When it is
unreachable the PostgreSQL runs are skipped, except with ``CI=true``, where the run fails.
"""
from __future__ import annotations

import itertools
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RUN_ID = uuid.uuid4().hex[:8]
_counter = itertools.count(1)
DEFAULT_PASSWORD = "correct horse battery 9"


def pytest_addoption(parser):
    group = parser.getgroup("garage")
    group.addoption("--db", default=os.environ.get("GARAGE_TEST_DB", "sqlite,postgresql"),
                    help="database backends to run the app fixture on (comma-separated)")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run this test only on these database backends")
    # Argon2id at test strength (about 1 ms a hash instead of hundreds): every user() and sign-in hashes.
    # Still Argon2id, so verification works the same; production parameters are untouched.
    from argon2 import PasswordHasher

    from core import security

    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pytest_generate_tests(metafunc):
    if "db_backend" in metafunc.fixturenames:
        names = [b.strip() for b in metafunc.config.getoption("--db").split(",") if b.strip()]
        marker = metafunc.definition.get_closest_marker("backends")
        if marker:
            names = [n for n in names if n in marker.args]
        metafunc.parametrize("db_backend", names, scope="function")


def pg_server_url() -> str:
    return os.environ.get("GARAGE_TEST_PG", PG_DEFAULT)


def _pg_admin():
    import sqlalchemy as sa

    return sa.create_engine(pg_server_url(), isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


class _Templates:
    """One migrated template database per backend and plugin set, made on first use."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.made: dict[tuple, str] = {}
        self.pg_dbs: list[str] = []
        self.pg_error: str | None = None
        self.pg_checked = False

    def pg_available(self) -> bool:
        if not self.pg_checked:
            self.pg_checked = True
            try:
                with _pg_admin().connect() as conn:
                    conn.exec_driver_sql("select 1")
            except Exception as exc:  # noqa: BLE001
                self.pg_error = f"PostgreSQL at {pg_server_url()} is unreachable: {exc.__class__.__name__}: {exc}"
        return self.pg_error is None

    def template(self, backend: str, config: dict) -> str:
        # Every setting that changes the loaded plugins changes the schema, hence the template.
        allow = config.get("GARAGE_PLUGINS")
        key = (backend, tuple(sorted((config.get("GARAGE_EXTRA_PLUGINS") or {}).items())),
               None if allow is None else tuple(sorted(allow)), tuple(sorted(config.get("GARAGE_DISABLED_PLUGINS") or ())))
        if key not in self.made:
            if backend == "sqlite":
                path = self.tmp / f"template-{len(self.made)}.db"
                url = f"sqlite:///{path}"
            else:
                name = f"garage_tpl_{RUN_ID}_{len(self.made)}"
                with _pg_admin().connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                self.pg_dbs.append(name)
                url = _with_database(pg_server_url(), name)
            _migrate(url, config, self.tmp)
            self.made[key] = url
        return self.made[key]

    def clone(self, backend: str, template_url: str) -> str:
        n = next(_counter)
        if backend == "sqlite":
            src = Path(template_url[len("sqlite:///"):])
            dst = self.tmp / f"test-{n}.db"
            shutil.copyfile(src, dst)
            return f"sqlite:///{dst}"
        from sqlalchemy.engine import make_url

        tpl = make_url(template_url).database
        name = f"garage_t_{RUN_ID}_{n}"
        with _pg_admin().connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"')
        return _with_database(pg_server_url(), name)

    def drop(self, url: str) -> None:
        if url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(url[len("sqlite:///"):] + suffix).unlink(missing_ok=True)
            return
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with _pg_admin().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_templates(self) -> None:
        for name in self.pg_dbs:
            with _pg_admin().connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str, config: dict, tmp: Path) -> None:
    from core import create_app, migrate
    from core.db import db
    from core.features import ensure_default_tiers

    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(tmp), "SECRET_KEY": "t"})
    migrate.upgrade(app)
    with app.app_context():
        ensure_default_tiers()
        db.session.commit()
        db.engine.dispose()


@pytest.fixture(scope="session")
def _garage_templates(tmp_path_factory):
    templates = _Templates(tmp_path_factory.mktemp("garage-db"))
    yield templates
    templates.drop_templates()


@pytest.fixture
def garage_config() -> dict:
    """Override to pass extra settings to ``create_app`` (e.g. ``GARAGE_EXTRA_PLUGINS``)."""
    return {}


@pytest.fixture
def db_url(db_backend, _garage_templates, garage_config):
    if db_backend == "postgresql" and not _garage_templates.pg_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(_garage_templates.pg_error + " (CI=true: PostgreSQL is required)", pytrace=False)
        pytest.skip(_garage_templates.pg_error)
    template = _garage_templates.template(db_backend, garage_config)
    url = _garage_templates.clone(db_backend, template)
    yield url
    _garage_templates.drop(url)


@pytest.fixture
def app(db_url, garage_config, tmp_path):
    from core import create_app
    from core.db import db

    config = {"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": True,
              "RATELIMIT_ENABLED": False, "INSTANCE_PATH": str(tmp_path), **garage_config,
              "SQLALCHEMY_DATABASE_URI": db_url}
    app = create_app(config)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class TenantHandle:
    id: int
    slug: str
    tier: str


@dataclass
class UserHandle:
    id: int
    email: str
    password: str
    role: str
    tenant: TenantHandle


@pytest.fixture
def tenant(app):
    """Factory: ``tenant(tier="master", slug=None)`` creates and commits a tenant."""
    from core.db import db
    from core.tenants import create_tenant

    def make(tier: str = "profi", slug: str | None = None, name: str | None = None) -> TenantHandle:
        slug = slug or f"shop-{next(_counter)}"
        with app.app_context():
            t = create_tenant(slug, name or f"Shop {slug}", tier)
            db.session.commit()
            return TenantHandle(t.id, t.slug, tier)

    return make


@pytest.fixture
def user(app, tenant):
    """Factory: ``user(role="owner", tenant=None, email=None)``; a new tenant when none is given."""
    from core.db import db
    from core.tenants import create_user, get_tenant

    def make(role: str = "owner", tenant: TenantHandle | None = None, email: str | None = None,
             password: str = DEFAULT_PASSWORD) -> UserHandle:
        t = tenant or make.tenant_factory()
        email = email or f"{role}-{next(_counter)}@{t.slug}.example"
        with app.app_context():
            u = create_user(get_tenant(t.slug), email, role, password)
            db.session.commit()
            return UserHandle(u.id, email, password, role, t)

    make.tenant_factory = tenant
    return make


@pytest.fixture
def login():
    """``login(client, user_handle)``: signs the test client in as that user (Flask-Login session)."""

    def do(client, u: UserHandle):
        with client.session_transaction() as sess:
            sess["_user_id"] = str(u.id)
            sess["_fresh"] = True
        return client

    return do


@pytest.fixture
def token(app):
    """``token(user_handle, name="test")`` -> a new API token of that user, for ``Authorization: Bearer``."""
    from sqlalchemy import select

    from core.auth.tokens import create_token
    from core.db import db
    from core.features import tenant_info
    from core.models import User
    from core.tenancy import tenant_context
    from core.tenants import get_tenant

    def make(u: UserHandle, name: str = "test") -> str:
        with app.app_context():
            with tenant_context(tenant_info(get_tenant(u.tenant.slug))):
                row = db.session.execute(select(User).where(User.id == u.id)).scalar_one()
                _token, text = create_token(row, name, actor="test")
                db.session.commit()
                return text

    return make
