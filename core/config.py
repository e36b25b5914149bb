"""Configuration: defaults, then environment variables, then the ``config`` passed to create_app."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _split(value: str | None) -> list[str] | None:
    if value is None or value.strip() == "":
        return None
    return [s.strip() for s in value.split(",") if s.strip()]


def instance_path() -> Path:
    return Path(os.environ.get("GARAGE_INSTANCE", Path.cwd() / "instance")).resolve()


def _secret_key(instance: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    instance.mkdir(parents=True, exist_ok=True)
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def load(overrides: dict | None = None) -> dict:
    overrides = dict(overrides or {})
    instance = Path(overrides.get("INSTANCE_PATH") or instance_path())
    cfg: dict = {
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'garage.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "GARAGE_PLUGINS": _split(os.environ.get("GARAGE_PLUGINS")),
        "GARAGE_DISABLED_PLUGINS": _split(os.environ.get("GARAGE_DISABLED_PLUGINS")) or [],
        # Jobs: "eager" runs them in-process (the embedded default, no Redis); "celery" sends them to the
        # broker for `garage worker`.
        "GARAGE_JOBS": os.environ.get("GARAGE_JOBS", "celery" if os.environ.get("REDIS_URL") else "eager"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # The address clients reach the server at, for links in messages (e.g. https://garage.example).
        "GARAGE_PUBLIC_URL": os.environ.get("GARAGE_PUBLIC_URL", ""),
        "BABEL_DEFAULT_LOCALE": "en",
        "LANGUAGES": ["en", "ru", "zh"],
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "JSON_SORT_KEYS": False,
    }
    cfg.update(overrides)
    if "SECRET_KEY" not in cfg:
        cfg["SECRET_KEY"] = _secret_key(instance)
    uri = cfg["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://"):]
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://"):]
    cfg["SQLALCHEMY_DATABASE_URI"] = uri
    return cfg
