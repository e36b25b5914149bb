"""A small file store for uploads (photos, scans): bytes under a key, nothing else.

Keys are always prefixed by the tenant's id (``"<tenant_id>/<area>/<random>.<ext>"``) so one shop's
files can never be named by another's key; callers keep the key in their own tenant-scoped row and
check permissions before they read. :class:`Storage` is the interface; :class:`LocalStorage` keeps
the files in a directory (``GARAGE_FILES_DIR``, default ``<instance>/files``). An S3 backend only has
to implement the same four methods and be returned by :func:`storage` for ``GARAGE_STORAGE = "s3"``.

    from core.storage import storage
    key = storage().put(tenant_id, "workshop/photos", data, ext="jpg")
    data = storage().get(key)
    storage().delete(key)
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from flask import current_app

KEY_RE = re.compile(r"^[0-9]+/[a-z0-9_/-]+/[A-Za-z0-9_-]+(\.[a-z0-9]{1,8})?$")
AREA_RE = re.compile(r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")


class StorageError(Exception):
    """A malformed key, or a key that names no file."""


class Storage:
    """The interface of a file store."""

    def put(self, tenant_id: int, area: str, data: bytes, ext: str | None = None) -> str:
        """Store ``data``; return its new key (``"<tenant_id>/<area>/<random>[.ext]"``)."""
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`StorageError` when there are none."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is already gone)."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    @staticmethod
    def new_key(tenant_id: int, area: str, ext: str | None = None) -> str:
        if not isinstance(tenant_id, int) or tenant_id <= 0:
            raise StorageError("a key needs the tenant's id")
        if not AREA_RE.match(area or ""):
            raise StorageError(f"bad area {area!r}")
        ext = (ext or "").lower().lstrip(".")
        if ext and not re.fullmatch(r"[a-z0-9]{1,8}", ext):
            raise StorageError(f"bad extension {ext!r}")
        return f"{tenant_id}/{area}/{secrets.token_urlsafe(18)}" + (f".{ext}" if ext else "")

    @staticmethod
    def check_key(key: str) -> str:
        if not isinstance(key, str) or not KEY_RE.match(key) or ".." in key:
            raise StorageError(f"bad key {key!r}")
        return key

    @staticmethod
    def tenant_of(key: str) -> int:
        return int(Storage.check_key(key).split("/", 1)[0])


class LocalStorage(Storage):
    """Files in a local directory, one sub-directory per tenant."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / self.check_key(key)).resolve()
        if self.root not in path.parents:
            raise StorageError(f"bad key {key!r}")
        return path

    def put(self, tenant_id: int, area: str, data: bytes, ext: str | None = None) -> str:
        key = self.new_key(tenant_id, area, ext)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file
        return key

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no file {key!r}") from None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


def files_dir(app=None) -> Path:
    app = app or current_app
    configured = app.config.get("GARAGE_FILES_DIR") or os.environ.get("GARAGE_FILES_DIR")
    return Path(configured) if configured else Path(app.config.get("INSTANCE_PATH") or app.instance_path) / "files"


def storage(app=None) -> Storage:
    """The app's file store (``GARAGE_STORAGE``: ``local``, the default)."""
    app = app or current_app
    store = app.extensions.get("garage_storage")
    if store is None:
        kind = app.config.get("GARAGE_STORAGE") or os.environ.get("GARAGE_STORAGE") or "local"
        if kind != "local":
            raise RuntimeError(f"unknown GARAGE_STORAGE {kind!r}")
        store = LocalStorage(files_dir(app))
        app.extensions["garage_storage"] = store
    return store


__all__ = ["Storage", "LocalStorage", "StorageError", "storage", "files_dir"]
