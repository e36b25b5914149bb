"""The shop's logo: uploaded once in the settings, shown on printed documents and the shop's public pages.

The upload is checked by its content (Pillow must open it as PNG, JPEG, WebP or GIF; an SVG, which can
carry scripts, is refused), scaled down to fit :data:`MAX_SIZE` and stored as a PNG in the core's file
store (:mod:`core.storage`); ``core_tenant.logo_key`` names the file. Prints and public pages embed it as
a ``data:`` URI: WeasyPrint fetches nothing else (:mod:`core.api` limits its URL fetcher to data URIs),
and a public page needs no second, unauthenticated file route. A scaled logo is a few tens of KB.
"""
from __future__ import annotations

import base64
import io

from flask import current_app
from flask_babel import gettext as _
from .storage import StorageError, storage

AREA = "core/logo"
MAX_SIZE = (600, 200)  # a letterhead logo: wide, not tall
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")


class LogoError(Exception):
    """An upload that is refused; ``message`` is translated."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def scaled_png(data: bytes) -> bytes:
    """``data`` as a PNG no larger than :data:`MAX_SIZE`; :class:`LogoError` when it is not a picture."""
    from PIL import Image, UnidentifiedImageError

    limit = current_app.config.get("GARAGE_LOGO_MAX_BYTES", MAX_UPLOAD_BYTES)
    if not data:
        raise LogoError(_("Choose a picture file."))
    if len(data) > limit:
        raise LogoError(_("The picture is larger than %(mb)s MB.", mb=limit // (1024 * 1024) or 1))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS or image.width * image.height > MAX_PIXELS:
                raise LogoError(_("Upload the logo as a PNG, JPEG, WebP or GIF picture."))
            image.load()
            image = image.convert("RGBA")
            image.thumbnail(MAX_SIZE)
            out = io.BytesIO()
            image.save(out, format="PNG", optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise LogoError(_("Upload the logo as a PNG, JPEG, WebP or GIF picture.")) from exc


def set_logo(tenant, data: bytes | None) -> str | None:
    """Replace (or with ``None`` remove) ``tenant``'s logo; returns the old key, which the caller deletes
    from the store after its transaction commits (a rollback must not leave the row without its file)."""
    old = tenant.logo_key
    tenant.logo_key = storage().put(tenant.id, AREA, scaled_png(data), ext="png") if data is not None else None
    return old


def logo_png(tenant) -> bytes | None:
    if tenant is None or not tenant.logo_key:
        return None
    try:
        return storage().get(tenant.logo_key)
    except StorageError:
        return None  # a file lost from the store must not break every print


def logo_data_uri(tenant) -> str | None:
    """The logo as a ``data:image/png;base64,...`` URI for ``<img src>``, or None."""
    png = logo_png(tenant)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii") if png else None
