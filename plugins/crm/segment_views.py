"""The client filters page and segment management (``crm.basic``): filter clients, see how many match and
the first page of them, save the filter as a segment; list, rename and delete segments.

A tenant without ``crm.basic`` gets the upgrade page (UI) or 404 (API). Every mutation is one
transaction with its audit row (:mod:`plugins.crm.segments`).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from . import segments
from .api import _errors, _get, requires
from .gates import gate
from .reports import ReportError

_ = domain("crm").gettext
FEATURE = "crm.basic"

api = Blueprint("crm_segment_api", __name__, url_prefix="/api/v1/crm")
ui = Blueprint("crm_segment_ui", __name__, url_prefix="/crm", template_folder="templates")


gate(api, ui)


@api.errorhandler(404)
def _not_found(exc):
    return jsonify(error="not_found", message=_("Not found")), 404


# --- API -------------------------------------------------------------------------------------------


@api.patch("/segments/<int:segment_id>")
@requires("crm.segment.update")
def segment_rename_view(segment_id: int):
    """Body ``{"name": "Kia owners 2024"}``."""
    segment = _get(segments.Segment, segment_id)
    body = request.get_json(silent=True) or {}
    try:
        segments.rename_segment(segment, body.get("name"))
    except ReportError as exc:
        db.session.rollback()
        return _errors(exc.errors)
    db.session.commit()
    return jsonify(segments.as_dict(segment))


@api.delete("/segments/<int:segment_id>")
@requires("crm.segment.delete")
def segment_delete_view(segment_id: int):
    segments.delete_segment(_get(segments.Segment, segment_id))
    db.session.commit()
    return "", 204


# --- the page --------------------------------------------------------------------------------------


def _page_allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


def _advisors() -> list[tuple[int, str]]:
    """The shop's active users (an advisor is a user), as ``(id, name)``."""
    from core.models import User

    return [(u.id, u.name or u.email) for u in db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.email))]


def _render(values: dict, status: int = 200, errors: dict | None = None, save_errors: dict | None = None,
            segment_name: str = "", rename_errors: dict | None = None):
    from .visit_index import JOB, TECHNICIAN, refreshed_at, suggestions

    errors = dict(errors or {})
    filters, count, rows = {}, None, []
    if not errors:
        try:
            filters = segments.clean_filters(values)
        except ReportError as exc:
            errors, status = exc.errors, 422
        else:
            count, rows = segments.filter_page(filters)
    all_segments = list(db.session.scalars(select(segments.Segment).order_by(segments.Segment.name)))
    return render_template(
        "crm/segments.html", values=values, filters=filters, errors=errors, count=count, rows=rows,
        page_size=segments.PAGE_SIZE, segments=all_segments, advisors=_advisors(), jobs=suggestions(JOB),
        technicians=suggestions(TECHNICIAN), indexed_at=refreshed_at(), save_errors=save_errors or {},
        segment_name=segment_name, rename_errors=rename_errors or {}, can_create=current_user.can("crm.segment.create"),
        can_update=current_user.can("crm.segment.update"), can_delete=current_user.can("crm.segment.delete"),
        can_mail=g.tenant.has("crm.advanced") and current_user.can("crm.mailing.read"), _=_), status


def _filter_values(source) -> dict:
    return {key: source.get(key, "").strip() for key in segments.FILTER_KEYS if source.get(key, "").strip()}


@ui.get("/segments")
def segments_page():
    """``?make=Kia&job=масл&...`` filters; ``?segment_id=`` opens a saved segment's filters."""
    denied = _page_allowed("crm.client.read")
    if denied is not None:
        return denied
    values = _filter_values(request.args)
    segment_id = request.args.get("segment_id", "")
    if segment_id.isdigit() and not values:
        segment = _get(segments.Segment, int(segment_id))
        values = {k: str(v) for k, v in (segment.filters or {}).items()}
    return _render(values)


@ui.post("/segments")
def segment_save_page():
    denied = _page_allowed("crm.segment.create")
    if denied is not None:
        return denied
    values = _filter_values(request.form)
    try:
        segment = segments.create_segment(request.form.get("name"), values)
    except ReportError as exc:
        db.session.rollback()
        filter_errors = {k.split(".", 1)[1]: v for k, v in exc.errors.items() if k.startswith("filters.")}
        return _render(values, 422, errors=filter_errors,
                       save_errors={k: v for k, v in exc.errors.items() if not k.startswith("filters.")},
                       segment_name=request.form.get("name", ""))
    db.session.commit()
    flash(_("The segment “%(name)s” is saved.", name=segment.name), "success")
    return redirect(url_for("crm_segment_ui.segments_page", segment_id=segment.id))


@ui.post("/segments/<int:segment_id>/rename")
def segment_rename_page(segment_id: int):
    denied = _page_allowed("crm.segment.update")
    if denied is not None:
        return denied
    segment = _get(segments.Segment, segment_id)
    try:
        segments.rename_segment(segment, request.form.get("name"))
    except ReportError as exc:
        db.session.rollback()
        return _render({}, 422, rename_errors={segment_id: exc.errors.get("name", [])})
    db.session.commit()
    flash(_("The segment is renamed."), "success")
    return redirect(url_for("crm_segment_ui.segments_page")), 303


@ui.post("/segments/<int:segment_id>/delete")
def segment_delete_page(segment_id: int):
    denied = _page_allowed("crm.segment.delete")
    if denied is not None:
        return denied
    segments.delete_segment(_get(segments.Segment, segment_id))
    db.session.commit()
    flash(_("The segment is deleted."), "success")
    return redirect(url_for("crm_segment_ui.segments_page")), 303
