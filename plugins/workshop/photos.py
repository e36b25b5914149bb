"""Photos: the car as it came in (on the service order: damage, dashboard, other) and the technician's
photos of a job (on a work order's labour line).

The bytes live in the core's file store (:mod:`core.storage`, keys prefixed by the tenant's id); the
``workshop_photo`` row (tenant-scoped) says whose photo it is, what it shows and where its file and
thumbnail are. An upload is checked by its content, not its name or the browser's content type:
Pillow must open it as JPEG, PNG, WebP or GIF, within the size limit (``WORKSHOP_PHOTO_MAX_BYTES``,
10 MB by default). Files are only served through the workshop's endpoints, which find the row
through the tenant guard (another shop's id is a 404) and check the document's read permission.
Uploads and deletions are audited; a file is removed from the store after its row's deletion commits.
"""
from __future__ import annotations

import base64
import io
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import TenantScoped, db
from core.documents import ensure_editable
from core.i18n import domain
from core.models import utcnow
from core.storage import storage
from core.tenancy import current_tenant_id

_ = domain("workshop").gettext
_l = domain("workshop").lazy_gettext

AREA = "workshop/photos"
INTAKE_KINDS = ("damage", "dashboard", "other")
KINDS = INTAKE_KINDS + ("job",)
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp"),
           "GIF": ("image/gif", "gif")}
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
THUMB_SIZE = (480, 480)
MAX_PIXELS = 50_000_000  # a decompression bomb is refused, not decoded


def kind_titles() -> dict:
    return {"damage": _("Damage"), "dashboard": _("Dashboard"), "other": _("Other"), "job": _("Job")}


class Photo(TenantScoped, db.Model):
    __tablename__ = "workshop_photo"
    __table_args__ = (Index(None, "tenant_id", "service_order_id"), Index(None, "tenant_id", "work_order_id"),
                      Index(None, "tenant_id", "labor_line_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    service_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_service_order.id", ondelete="CASCADE", name="fk_workshop_photo_so"))
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_work_order.id", ondelete="CASCADE", name="fk_workshop_photo_wo"))
    labor_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_labor_line.id", ondelete="CASCADE", name="fk_workshop_photo_line"))
    kind: Mapped[str] = mapped_column(String(20))
    caption: Mapped[str | None] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


MODELS = [Photo]


class PhotoError(Exception):
    """An upload that is refused: ``fields`` for the 422 answer (translated messages)."""

    def __init__(self, fields: dict, status: int = 422):
        super().__init__(str(fields))
        self.fields, self.status = fields, status
        self.message = "; ".join(str(m) for msgs in fields.values() for m in msgs)


def max_bytes() -> int:
    return int(current_app.config.get("WORKSHOP_PHOTO_MAX_BYTES") or DEFAULT_MAX_BYTES)


def read_upload(file_storage) -> bytes:
    """The uploaded file's bytes, refusing a missing, empty or too large file (translated 422)."""
    if file_storage is None or not getattr(file_storage, "filename", None):
        raise PhotoError({"file": [_("Choose a photo to upload.")]})
    limit = max_bytes()
    data = file_storage.stream.read(limit + 1)
    if not data:
        raise PhotoError({"file": [_("The file is empty.")]})
    if len(data) > limit:
        raise PhotoError({"file": [_("The photo is too large: at most %(mb)s MB.",
                                     mb=format(limit / 1024 / 1024, ".1f").rstrip("0").rstrip("."))]})
    return data


def inspect(data: bytes):
    """``(format, width, height, thumbnail JPEG bytes)``; :class:`PhotoError` unless it is an image."""
    from PIL import Image, ImageOps

    def not_image():
        return PhotoError({"file": [_("This file is not a photo (JPEG, PNG, WebP or GIF).")]})

    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format
            if fmt not in FORMATS:
                raise not_image()
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError({"file": [_("The photo has too many pixels.")]})
            probe.verify()  # a truncated or forged file fails here
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if img.format == "JPEG":  # decode at a reduced scale: a 12 MP photo checked in 0.20 s, not 0.37 s
                img.draft("RGB", (THUMB_SIZE[0] * 2, THUMB_SIZE[1] * 2))
            img.load()
            thumb = ImageOps.exif_transpose(img)
            thumb.thumbnail(THUMB_SIZE)
            if thumb.mode not in ("RGB", "L"):
                background = Image.new("RGB", thumb.size, "white")
                rgba = thumb.convert("RGBA")
                background.paste(rgba, mask=rgba.getchannel("A"))
                thumb = background
            out = io.BytesIO()
            thumb.save(out, "JPEG", quality=80)
    except PhotoError:
        raise
    except Exception:  # anything Pillow cannot read is not a photo for us
        raise not_image() from None
    return fmt, width, height, out.getvalue()


def add_photo(data: bytes, *, kind: str, caption: str | None, user, service_order=None, work_order=None,
              line=None) -> Photo:
    """Check and store one photo for a service order (intake) or a job line; audited."""
    doc = service_order if service_order is not None else work_order
    ensure_editable(doc)
    if kind not in (INTAKE_KINDS if service_order is not None else ("job",)):
        raise PhotoError({"kind": [_("Choose what the photo shows.")]})
    if caption is not None and len(caption) > 300:
        raise PhotoError({"caption": [_("At most 300 characters.")]})
    fmt, width, height, thumb = inspect(data)
    content_type, ext = FORMATS[fmt]
    tenant_id = current_tenant_id()
    store = storage()
    key = store.put(tenant_id, AREA, data, ext=ext)
    thumb_key = store.put(tenant_id, AREA, thumb, ext="jpg")
    _after_rollback_delete([key, thumb_key])
    photo = Photo(service_order_id=service_order.id if service_order is not None else None,
                  work_order_id=work_order.id if work_order is not None else None,
                  labor_line_id=line.id if line is not None else None, kind=kind, caption=caption or None,
                  key=key, thumb_key=thumb_key, content_type=content_type, size=len(data), width=width,
                  height=height, uploaded_by_id=getattr(user, "id", None))
    db.session.add(photo)
    db.session.flush()
    audit.record("create", photo, user=user, changes={
        "service_order_id": [None, photo.service_order_id], "work_order_id": [None, photo.work_order_id],
        "labor_line_id": [None, photo.labor_line_id], "kind": [None, kind], "content_type": [None, content_type],
        "size": [None, len(data)]})
    return photo


def delete_photo(photo: Photo, user) -> None:
    """Delete the row (audited); the files go once the transaction commits."""
    from .models import ServiceOrder, WorkOrder

    doc = (db.session.get(ServiceOrder, photo.service_order_id) if photo.service_order_id
           else db.session.get(WorkOrder, photo.work_order_id))
    if doc is not None:
        ensure_editable(doc)
    audit.record("delete", photo, user=user, changes={"kind": [photo.kind, None], "caption": [photo.caption, None],
                                                      "size": [photo.size, None]})
    _after_commit_delete([photo.key, photo.thumb_key])
    db.session.delete(photo)
    db.session.flush()


def _after_commit_delete(keys: list[str]) -> None:
    from sqlalchemy import event

    session = db.session()
    store = storage()

    def remove(_session):
        for k in keys:
            store.delete(k)

    event.listen(session, "after_commit", remove, once=True)


def _after_rollback_delete(keys: list[str]) -> None:
    """Files written for a transaction that is rolled back are removed again (no orphans)."""
    from sqlalchemy import event

    session = db.session()
    store = storage()
    state = {"done": False}

    def on_commit(_session):
        state["done"] = True

    def on_rollback(_session):
        if not state["done"]:
            for k in keys:
                store.delete(k)

    event.listen(session, "after_commit", on_commit, once=True)
    event.listen(session, "after_soft_rollback", on_rollback, once=True)


def get_photo(photo_id: int) -> Photo | None:
    """The photo of the current tenant (the tenant guard: another shop's id finds nothing)."""
    return db.session.execute(select(Photo).where(Photo.id == photo_id)).scalar_one_or_none()


def read_permission(photo: Photo) -> str:
    return "workshop.service_order.read" if photo.service_order_id else "workshop.work_order.read"


def delete_permission(photo: Photo) -> str:
    return "workshop.service_order.update" if photo.service_order_id else "workshop.work_order.start"


def file_bytes(photo: Photo, thumb: bool = False) -> bytes:
    from core.storage import Storage

    key = photo.thumb_key if thumb else photo.key
    if Storage.tenant_of(key) != photo.tenant_id:  # belt and braces: the key names the row's tenant
        raise PhotoError({"file": ["?"]}, 404)
    return storage().get(key)


def photos_of(service_order_id: int | None = None, work_order_id: int | None = None) -> list[Photo]:
    q = select(Photo).order_by(Photo.id)
    if service_order_id is not None:
        q = q.where(Photo.service_order_id == service_order_id)
    else:
        q = q.where(Photo.work_order_id == work_order_id)
    return list(db.session.scalars(q))


def data_url(photo: Photo) -> str | None:
    """The thumbnail as a ``data:`` URL (print templates cannot load other URLs)."""
    try:
        return "data:image/jpeg;base64," + base64.b64encode(file_bytes(photo, thumb=True)).decode("ascii")
    except Exception:  # a file lost from the store prints as nothing rather than breaking the print
        return None


def dump(photo: Photo, prefix: str = "/api/v1/workshop") -> dict:
    return {"id": photo.id, "service_order_id": photo.service_order_id, "work_order_id": photo.work_order_id,
            "labor_line_id": photo.labor_line_id, "kind": photo.kind, "caption": photo.caption,
            "content_type": photo.content_type, "size": photo.size, "width": photo.width, "height": photo.height,
            "uploaded_by_id": photo.uploaded_by_id,
            "created_at": _aware(photo.created_at).isoformat(),
            "file_url": f"{prefix}/photos/{photo.id}/file", "thumb_url": f"{prefix}/photos/{photo.id}/thumb"}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)  # SQLite: naive UTC


def photos_panel(doc, user) -> str:
    """The "Photos" block of a service order's or work order's page."""
    from flask import render_template

    from core.documents import get_document_type

    from .models import ServiceOrder

    state = get_document_type(doc).workflow.states.get(doc.state)
    editable = not (state and state.immutable)
    if isinstance(doc, ServiceOrder):
        items = photos_of(service_order_id=doc.id)
        can_upload = editable and user is not None and user.can("workshop.service_order.update")
        can_delete = can_upload
        lines, by_line, back = None, {}, f"/workshop/service-orders/{doc.id}"
    else:
        items = photos_of(work_order_id=doc.id)
        can_upload = editable and user is not None and user.can("workshop.work_order.start")
        can_delete = can_upload
        lines, back = list(doc.labor_lines), f"/workshop/work-orders/{doc.id}"
        by_line: dict[int, list] = {}
        for p in items:
            by_line.setdefault(p.labor_line_id, []).append(p)
    return render_template("workshop/panels/photos.html", doc=doc, items=items, lines=lines, by_line=by_line,
                           kinds=kind_titles(), can_upload=can_upload, can_delete=can_delete, back=back)
