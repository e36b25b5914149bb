"""Endpoints and the page of mass mailing (``crm.advanced``).

A shop without ``crm.advanced`` gets 403 here (API and page): mailing is a paid upgrade of a plugin
the shop has, and the page says which plan includes it.
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from core.db import db
from core.i18n import domain

from . import mailings, messages
from .api import _crm_error, _errors, _get, requires
from .gates import gate
from .services import CrmError

_ = domain("crm").gettext

api = Blueprint("crm_mailing_api", __name__, url_prefix="/api/v1/crm")
ui = Blueprint("crm_mailing_ui", __name__, url_prefix="/crm", template_folder="templates")


gate(api, ui, mailings.FEATURE, refused=lambda: _("Mass mailing is not included in your plan."))


@api.errorhandler(404)
def _not_found(exc):
    return jsonify(error="not_found", message=_("Not found")), 404


def _mailing_error(exc: CrmError):
    if exc.extra.get("fields"):
        return _errors(exc.extra["fields"])
    return _crm_error(exc)


@api.post("/mailings/preview")
@requires("crm.mailing.send")
def preview_view():
    """Body ``{"segment_id", "template_id"}``: who would get it, and who not and why (nothing saved)."""
    body = request.get_json(silent=True) or {}
    try:
        return jsonify(mailings.preview(body.get("segment_id"), body.get("template_id")))
    except CrmError as exc:
        return _mailing_error(exc)


@api.get("/mailings")
@requires("crm.mailing.read")
def list_view():
    rows = db.session.scalars(select(mailings.Mailing).order_by(mailings.Mailing.id.desc()).limit(200))
    return jsonify(results=[mailings.as_dict(m) for m in rows])


@api.post("/mailings")
@requires("crm.mailing.send")
def create_view():
    """Body ``{"segment_id", "template_id", "key": optional, "send": true}``: a mailing (a draft, or
    queued at once with ``send``). The same ``key`` again answers 200 with the first mailing."""
    body = request.get_json(silent=True) or {}
    try:
        mailing, created = mailings.create(body.get("segment_id"), body.get("template_id"), body.get("key"),
                                           user=current_user)
        if created and body.get("send"):
            mailings.send(mailing, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        return _mailing_error(exc)
    db.session.commit()
    return jsonify(mailings.as_dict(mailing)), 201 if created else 200


@api.get("/mailings/<int:mailing_id>")
@requires("crm.mailing.read")
def get_view(mailing_id: int):
    return jsonify(mailings.as_dict(_get(mailings.Mailing, mailing_id)))


@api.post("/mailings/<int:mailing_id>/send")
@requires("crm.mailing.send")
def send_view(mailing_id: int):
    """Queue the messages; a second call queues nothing (``queued: 0``)."""
    mailing = _get(mailings.Mailing, mailing_id)
    try:
        queued = mailings.send(mailing, user=current_user)
    except CrmError as exc:
        db.session.rollback()
        return _mailing_error(exc)
    db.session.commit()
    return jsonify({**mailings.as_dict(mailing), "queued": queued})


@api.get("/clients/<int:client_id>/unsubscribes")
@requires("crm.client.read")
def client_unsubscribes_view(client_id: int):
    from .models import Client

    client = _get(Client, client_id)
    rows = db.session.scalars(select(mailings.Unsubscribe).where(mailings.Unsubscribe.client_id == client.id))
    return jsonify(results=[{"channel": r.channel, "mailing_id": r.mailing_id, "at": r.created_at.isoformat()}
                            for r in rows])


# --- the page --------------------------------------------------------------------------------------


def _page_allowed(permission: str):
    if not (current_user and current_user.is_authenticated):
        from core.web import login_manager

        return login_manager.unauthorized()
    if not current_user.can(permission):
        abort(403)
    return None


@ui.route("/mailings", methods=["GET", "POST"])
def mailings_page():
    """Pick a segment and a template, see the count (GET with both), send (POST, with a nonce)."""
    denied = _page_allowed("crm.mailing.read")
    if denied is not None:
        return denied
    from flask import flash

    from .segments import Segment

    errors, info, status = {}, None, 200
    values = request.values
    if request.method == "POST":
        denied = _page_allowed("crm.mailing.send")
        if denied is not None:
            return denied
        try:
            mailing, created = mailings.create(values.get("segment_id"), values.get("template_id"),
                                               values.get("key"), user=current_user)
            queued = mailings.send(mailing, user=current_user) if created else 0
        except CrmError as exc:
            db.session.rollback()
            errors, status = exc.extra.get("fields") or {exc.extra.get("field") or "segment_id": [str(exc.message)]}, 422
        else:
            db.session.commit()
            if created:
                flash(_("The mailing is queued. Messages: %(count)s.", count=queued), "success")
            else:
                flash(_("This mailing was sent already."), "info")
            return redirect(url_for("crm_mailing_ui.mailings_page"))
    elif values.get("segment_id") and values.get("template_id"):
        try:
            info = mailings.preview(values.get("segment_id"), values.get("template_id"))
        except CrmError as exc:
            errors, status = exc.extra.get("fields") or {}, 422
    segments = list(db.session.scalars(select(Segment).order_by(Segment.name)))
    templates = list(db.session.scalars(select(messages.MessageTemplate).where(
        messages.MessageTemplate.event == mailings.EVENT, messages.MessageTemplate.active.is_(True))
        .order_by(messages.MessageTemplate.id)))
    rows = list(db.session.scalars(select(mailings.Mailing).order_by(mailings.Mailing.id.desc()).limit(50)))
    return render_template("crm/mailings.html", segments=segments, templates=templates, rows=rows, info=info,
                           errors=errors, values=values, key=secrets.token_hex(16),
                           can_send=current_user.can("crm.mailing.send"), _=_), status
