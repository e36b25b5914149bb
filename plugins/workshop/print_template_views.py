"""Pages to edit the tenant's print templates: ``/workshop/print-templates`` lists the document types,
``/workshop/print-templates/<type>`` edits one (textarea, preview on the newest document, versions).
A broken template is shown with its line and message (422) and not saved."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request

from core.auth.access import permission_required
from core.db import db
from core.i18n import domain

from . import print_templates as pt
from .views import current_user_obj

_ = domain("workshop").gettext

bp = Blueprint("workshop_print_templates_ui", __name__, url_prefix="/workshop")

FEATURE = "workshop.documents"
PERMISSION = "workshop.print_template.manage"


@bp.get("/print-templates")
@permission_required(PERMISSION, feature=FEATURE)
def print_templates_page():
    rows = [(dt, pt.active(dt.key)) for dt in pt.document_types()]
    return render_template("workshop/print_templates/list.html", rows=rows, _=_)


def _type_or_404(key: str):
    dt = pt.document_type(key)
    if dt is None:
        abort(404)
    return dt


@bp.get("/print-templates/<key>")
@permission_required(PERMISSION, feature=FEATURE)
def print_template_edit(key: str):
    dt = _type_or_404(key)
    row = pt.active(dt.key)
    return _edit_page(dt, row.body if row else pt.builtin_source(dt))


def _edit_page(dt, body: str, problem=None, preview=None, status: int = 200):
    from sqlalchemy import select

    from core.models import User

    versions = pt.versions(dt.key)
    ids = {v.created_by for v in versions if v.created_by}
    authors = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
    return render_template("workshop/print_templates/edit.html", dt=dt, body=body, problem=problem,
                           preview=preview, versions=versions, authors=authors,
                           has_sample=pt.sample_document(dt) is not None, _=_), status


@bp.post("/print-templates/<key>")
@permission_required(PERMISSION, feature=FEATURE)
def print_template_save(key: str):
    dt = _type_or_404(key)
    body = (request.form.get("body") or "").replace("\r\n", "\n")
    action = request.form.get("action", "save")
    try:
        if action == "preview":
            return _edit_page(dt, body, preview=pt.check(dt, body))
        if action == "builtin":
            body = pt.builtin_source(dt)
        row = pt.save(dt, body, current_user_obj())
        db.session.commit()
    except pt.TemplateProblem as problem:
        db.session.rollback()
        return _edit_page(dt, body, problem=problem, status=422)
    flash(_("Print template saved (version %(version)s).", version=row.version), "success")
    return redirect(f"/workshop/print-templates/{dt.key}")
