"""Photo endpoints (API and pages): upload (multipart ``file``, ``kind``, ``caption``), list, the file
and its thumbnail, delete. See :mod:`plugins.workshop.photos`.

API (``/api/v1/workshop``)::

    POST   /service-orders/<id>/photos                      intake photo (workshop.service_order.update)
    GET    /service-orders/<id>/photos
    POST   /work-orders/<id>/labor-lines/<line>/photos      a job's photo (workshop.work_order.start)
    GET    /work-orders/<id>/photos
    GET    /photos/<id>, /photos/<id>/file, /photos/<id>/thumb
    DELETE /photos/<id>

Files are answered only for the photo's tenant (another shop's id: 404) and with the read permission
of its document (403).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, request
from flask_login import current_user
from sqlalchemy import select

from core import events
from core.api.errors import ApiError, not_found, validation_error
from core.api.resources import require_user
from core.auth.access import permission_required
from core.db import db
from core.documents import DocumentError
from core.i18n import domain
from core.storage import StorageError

from . import photos, services
from .api import requires
from .documents import FEATURE
from .models import ServiceOrder

_ = domain("workshop").gettext

api_bp = Blueprint("workshop_photos_api", __name__, url_prefix="/api/v1/workshop")
ui_bp = Blueprint("workshop_photos_ui", __name__, url_prefix="/workshop")


def _service_order(doc_id: int, lock: bool = False) -> ServiceOrder | None:
    q = select(ServiceOrder).where(ServiceOrder.id == doc_id)
    return db.session.execute(q.with_for_update() if lock else q).scalar_one_or_none()


def _form_upload():
    data = photos.read_upload(request.files.get("file"))
    caption = (request.form.get("caption") or "").strip() or None
    return data, caption


def _api_errors(fn):
    """PhotoError -> 422 with the field's message; DocumentError (a closed document) -> 409."""
    try:
        return fn()
    except photos.PhotoError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise not_found() from None
        raise validation_error(exc.fields) from None
    except DocumentError as exc:
        db.session.rollback()
        raise ApiError(exc.status, "immutable" if exc.status == 409 else "document_error",
                       "; ".join(exc.messages), messages=exc.messages) from None


def _created(photo):
    response = jsonify(photos.dump(photo))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/workshop/photos/{photo.id}"
    return response


# --- API --------------------------------------------------------------------------------------------


@api_bp.post("/service-orders/<int:doc_id>/photos")
@requires("workshop.service_order.update")
def api_add_intake_photo(user, doc_id: int):
    """Add an intake photo (damage, dashboard, other) to a service order (multipart)."""
    so = _service_order(doc_id, lock=True)
    if so is None:
        raise not_found()

    def run():
        data, caption = _form_upload()
        photo = photos.add_photo(data, kind=request.form.get("kind") or "damage", caption=caption, user=user,
                                 service_order=so)
        events.commit()
        return _created(photo)

    return _api_errors(run)


@api_bp.get("/service-orders/<int:doc_id>/photos")
@requires("workshop.service_order.read")
def api_intake_photos(user, doc_id: int):
    if _service_order(doc_id) is None:
        raise not_found()
    return jsonify(items=[photos.dump(p) for p in photos.photos_of(service_order_id=doc_id)])


@api_bp.post("/work-orders/<int:order_id>/labor-lines/<int:line_id>/photos")
@requires("workshop.work_order.start")
def api_add_job_photo(user, order_id: int, line_id: int):
    """Add a photo to a job (labour line) of a work order (multipart)."""
    order = services.lock_order(order_id)
    line = services.get_line(order, "labor", line_id)

    def run():
        data, caption = _form_upload()
        photo = photos.add_photo(data, kind="job", caption=caption, user=user, work_order=order, line=line)
        events.commit()
        return _created(photo)

    return _api_errors(run)


@api_bp.get("/work-orders/<int:order_id>/photos")
@requires("workshop.work_order.read")
def api_job_photos(user, order_id: int):
    from .models import WorkOrder

    if db.session.execute(select(WorkOrder.id).where(WorkOrder.id == order_id)).first() is None:
        raise not_found()
    return jsonify(items=[photos.dump(p) for p in photos.photos_of(work_order_id=order_id)])


def _api_photo(photo_id: int, permission_of=photos.read_permission):
    user = require_user()
    if g.get("tenant") is None or not g.tenant.has(FEATURE):
        raise not_found()
    photo = photos.get_photo(photo_id)
    if photo is None:
        raise not_found()
    permission = permission_of(photo)
    if not user.can(permission):
        raise ApiError(403, "forbidden", _("You do not have permission to do this."), permission=permission)
    return user, photo


def _file_response(photo, thumb: bool) -> Response:
    try:
        data = photos.file_bytes(photo, thumb=thumb)
    except (StorageError, photos.PhotoError):
        abort(404)
    response = Response(data, mimetype="image/jpeg" if thumb else photo.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["Content-Disposition"] = "inline"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


@api_bp.get("/photos/<int:photo_id>")
def api_photo(photo_id: int):
    _user, photo = _api_photo(photo_id)
    return jsonify(photos.dump(photo))


@api_bp.get("/photos/<int:photo_id>/<any(file, thumb):what>")
def api_photo_file(photo_id: int, what: str):
    """The photo's file (as uploaded) or its JPEG thumbnail."""
    _user, photo = _api_photo(photo_id)
    return _file_response(photo, what == "thumb")


@api_bp.delete("/photos/<int:photo_id>")
def api_delete_photo(photo_id: int):
    """Delete a photo (audited); not on a closed document."""
    user, photo = _api_photo(photo_id, photos.delete_permission)

    def run():
        photos.delete_photo(photo, user)
        events.commit()
        return Response(status=204)

    return _api_errors(run)


# --- pages ------------------------------------------------------------------------------------------


def _back(default: str) -> str:
    target = request.form.get("next") or default
    return target if target.startswith("/workshop/") and "//" not in target else default


def _ui_run(action, back: str):
    try:
        action()
        events.commit()
        flash(_("Photo saved."), "success")
    except photos.PhotoError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
    except services.WorkshopError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(str(exc.message), "error")
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")
    return redirect(back)


def _me():
    return current_user._get_current_object()


@ui_bp.post("/service-orders/<int:doc_id>/photos")
@permission_required("workshop.service_order.update", feature=FEATURE)
def ui_add_intake_photo(doc_id: int):
    so = _service_order(doc_id, lock=True)
    if so is None:
        abort(404)

    def action():
        data, caption = _form_upload()
        photos.add_photo(data, kind=request.form.get("kind") or "damage", caption=caption, user=_me(),
                         service_order=so)

    return _ui_run(action, f"/workshop/service-orders/{doc_id}")


@ui_bp.post("/work-orders/<int:order_id>/labor-lines/<int:line_id>/photos")
@permission_required("workshop.work_order.start", feature=FEATURE)
def ui_add_job_photo(order_id: int, line_id: int):
    def action():
        order = services.lock_order(order_id)
        line = services.get_line(order, "labor", line_id)
        data, caption = _form_upload()
        photos.add_photo(data, kind="job", caption=caption, user=_me(), work_order=order, line=line)

    return _ui_run(action, _back(f"/workshop/work-orders/{order_id}"))


def _ui_photo(photo_id: int, permission_of=photos.read_permission):
    photo = photos.get_photo(photo_id)
    if photo is None:
        abort(404)
    if not current_user.can(permission_of(photo)):
        abort(403)
    return photo


@ui_bp.get("/photos/<int:photo_id>/<any(file, thumb):what>")
@permission_required("workshop.work_order.read", feature=FEATURE)  # and the photo's own document's, below
def ui_photo_file(photo_id: int, what: str):
    return _file_response(_ui_photo(photo_id), what == "thumb")


@ui_bp.post("/photos/<int:photo_id>/delete")
@permission_required("workshop.work_order.read", feature=FEATURE)
def ui_delete_photo(photo_id: int):
    photo = _ui_photo(photo_id, photos.delete_permission)
    back = (f"/workshop/service-orders/{photo.service_order_id}" if photo.service_order_id
            else f"/workshop/work-orders/{photo.work_order_id}")

    def action():
        photos.delete_photo(photo, _me())

    try:
        action()
        events.commit()
        flash(_("Photo deleted."), "success")
    except DocumentError as exc:
        db.session.rollback()
        flash("; ".join(exc.messages), "error")
    return redirect(_back(back))
