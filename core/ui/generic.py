"""Generic pages for every registered entity and document type, without code of their own:

    GET       /<slug>/<resource>                list (search q, filters, sort, page)
    GET/POST  /<slug>/<resource>/new            create form
    GET       /<slug>/<resource>/<id>           detail (documents: transition buttons, print link)
    GET/POST  /<slug>/<resource>/<id>/edit      edit form

A plugin overrides one page by shipping ``templates/<slug>/<resource>_list.html`` (``_detail``,
``_form``); the same context variables are passed. Plugin blueprints with a route of the same path
win (werkzeug prefers static path segments over ``<converters>``).

Rules: the tenant must have the plugin and the type's feature (else the upgrade page, status 404);
the user needs ``<permission_prefix>.read`` / ``.create`` / ``.update`` (else 403); another tenant's
id is 404; every write is one transaction with its audit row; a validation error re-shows the form
with the messages next to the fields and everything typed kept (status 422).
"""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .. import audit
from ..db import Money, db
from ..web import feature_unavailable, ui_context
from .forms import errors_for, form_to_payload, initial_values, localise_datetimes, schema_fields
from .listing import list_query, parse_params
from .shell import _require_login

bp = Blueprint("ui_generic", __name__)


@bp.before_request
def _login_first():
    # An unknown /<a>/<b> is a plain 404 (JSON under /api/), not a redirect to the login page.
    args = request.view_args or {}
    if (args.get("slug"), args.get("resource")) not in all_types():
        abort(404)
    return _require_login()


def _resources() -> dict:
    """The REST API's registry of entity and document types: the UI serves exactly the same set, with
    the same slugs, gating and permission names (``core.api.resources.Resource``)."""
    from ..api.resources import resources

    return resources()


def all_types() -> dict:
    """(slug, resource) -> EntityType or DocumentType (documents are entities with a workflow)."""
    return {key: res.spec for key, res in _resources().items()}


def permission(t, verb: str) -> str | None:
    res = _resources().get((_slug(t), t.resource))
    return res.permission(verb) if res is not None else None


def _slug(t) -> str:
    from ..plugins import is_core

    return "core" if is_core(t.plugin) else t.plugin


def readable_types(ctx) -> list:
    """The types the tenant has and the user may read (for the menu)."""
    if ctx.tenant is None:
        return []
    return [res.spec for _key, res in sorted(_resources().items())
            if res.available_to(ctx.tenant) and ctx.can(res.permission("read"))]


def is_document(t) -> bool:
    return hasattr(t, "workflow")


def _document_error(t, obj, fields_, exc):
    """A refusal of the documents engine (stale version, immutable state, veto...): the form again,
    with what the user typed and the engine's reasons."""
    for message in exc.messages:
        flash(message, "error")
    status = exc.status if 400 <= exc.status < 500 else 409
    return render_template(_templates(t, "form"), **_context(
        t, obj=obj, fields=fields_, values=request.form, errors={})), status


def _resolve(slug: str, resource: str, verb: str):
    res = _resources().get((slug, resource))
    if res is None:
        abort(404)
    t = res.spec
    if not res.available_to(g.tenant):
        if slug == "core":
            abort(404)
        return t, feature_unavailable(slug, getattr(t, "feature", None))
    perm = permission(t, verb)
    if perm and not current_user.can(perm):
        abort(403)
    return t, None


def _get(t, object_id: int, *, for_update: bool = False):
    model = t.model
    pk = model.__mapper__.primary_key[0]
    # A select, not session.get(): the tenant guard applies to queries, so another tenant's id is None.
    stmt = select(model).where(pk == object_id)
    if for_update:
        stmt = stmt.with_for_update()  # two saves of one record queue up: the version check holds
    obj = db.session.execute(stmt).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


def columns(t) -> list[tuple[str, object]]:
    """(attribute, label) of the list columns: declared ``list_columns`` or the first schema fields
    (computed once per request and type)."""
    cache = g.setdefault("ui_columns", {})
    key = (t.plugin, t.resource)
    if key not in cache:
        cache[key] = _columns(t)
    return cache[key]


def _columns(t) -> list[tuple[str, object]]:
    from .forms import _label

    schema = t.schema()
    labels = {f.data_key or name: _label(name, f) for name, f in schema.fields.items()}
    names = list(getattr(t, "list_columns", ()) or ()) or [n for n in labels if n != "id"][:5]
    return [(n, labels.get(n, n.replace("_", " ").capitalize())) for n in names]


def record_title(t, obj) -> str:
    """What a record is called on its page: a document's number, else its first list column."""
    if is_document(t) and getattr(obj, "number", None):
        return obj.number  # the type is in the breadcrumb above
    cols = columns(t)
    text = str(display(t, obj, cols[0][0])) if cols else ""
    return text or f"{t.title} #{_pk(obj)}"


def _linked_type(column):
    """The registered type whose table a foreign-key column points at (for a link on the detail page)."""
    for fk in column.foreign_keys:
        for key, res in _resources().items():
            if res.model.__table__.name == fk.column.table.name:
                return res
    return None


def display(t, obj, name: str, link: bool = False):
    """A value as the page shows it: money in the tenant's currency, dates and numbers per locale;
    with ``link``, a foreign key becomes a link to the referenced record (named by its title)."""
    import datetime as dt

    from markupsafe import Markup, escape

    from . import formatting

    value = getattr(obj, name, None)
    column = t.model.__table__.c.get(name)
    if value is None:
        return ""
    if link and column is not None and column.foreign_keys:
        res = _linked_type(column)
        if res is not None and res.available_to(g.tenant) and current_user.can(res.permission("read")):
            target = db.session.execute(select(res.model).where(res.model.__mapper__.primary_key[0] == value)
                                        ).scalar_one_or_none()
            if target is not None:
                url = url_for("ui_generic.detail_page", slug=res.slug, resource=res.resource, object_id=value)
                return Markup(f'<a href="{escape(url)}">{escape(record_title(res.spec, target))}</a>')
    if name == "state" and is_document(t):
        state = t.workflow.states.get(value)
        return state.title if state else value
    labels = _value_labels(t).get(name)
    if labels and value in labels:
        return labels[value]
    if column is not None and isinstance(column.type, Money):
        return formatting.money(value)
    if isinstance(value, bool):
        return formatting.yesno(value)
    if isinstance(value, dt.datetime):
        return formatting.datetime(value)
    if isinstance(value, dt.date):
        return formatting.date(value)
    if isinstance(value, (int, float, Decimal)):
        # metadata={"plain_number": True}: a number that names, not counts (a year: 2022, not 2 022)
        field = t.schema().fields.get(name)
        return str(value) if field is not None and field.metadata.get("plain_number") else formatting.number(value)
    if hasattr(value, "label"):
        return value.label
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _value_labels(t) -> dict[str, dict]:
    """``{field: {stored value: label}}`` from the schema's ``metadata={"choices": {...}}``, so a card
    and a list show "High" (in the user's language) where the row holds ``high``."""
    cache = g.setdefault("ui_value_labels", {})
    key = (t.plugin, t.resource)
    if key not in cache:
        cache[key] = {f.data_key or name: f.metadata["choices"] for name, f in t.schema().fields.items()
                      if isinstance(f.metadata.get("choices"), dict)}
    return cache[key]


def _templates(t, page: str) -> list[str]:
    return [f"{t.plugin}/{t.resource.replace('-', '_')}_{page}.html", f"{t.plugin}/{t.resource}_{page}.html",
            f"core/generic/{page}.html"]


def _context(t, **kw) -> dict:
    return {"type": t, "slug": _slug(t), "resource": t.resource, "is_document": is_document(t),
            "can_create": current_user.can(permission(t, "create")),
            "can_update": current_user.can(permission(t, "update")),
            "display": lambda obj, name, link=False: display(t, obj, name, link),
            "record_title": lambda obj: record_title(t, obj), **kw}


@bp.get("/<slug>/<resource>")
def list_page(slug: str, resource: str):
    t, gate = _resolve(slug, resource, "read")
    if gate is not None:
        return gate
    params = parse_params(t, request.args)
    result = list_query(t, params)
    wanted = tuple(getattr(t, "filter_fields", ()) or ())
    filter_fields = [_as_filter(f) for f in schema_fields(t.schema) if f.name in wanted]
    if is_document(t) and "state" in wanted:
        from .forms import FormField

        # The state is read-only in the schema (only transitions change it), but a fine filter.
        filter_fields.insert(0, FormField(name="state", label=_("State"), widget="select", choices=[
            (name, st.title) for name, st in t.workflow.states.items()]))
    return render_template(_templates(t, "list"), **_context(
        t, result=result, params=params, columns=columns(t), filter_fields=filter_fields,
        errors=errors_for(params.errors)))


def _as_filter(ff):
    """A yes/no field filters through a select (all / yes / no), not a checkbox."""
    if ff.widget != "checkbox":
        return ff
    from dataclasses import replace

    return replace(ff, widget="select", choices=[("true", _("Yes")), ("false", _("No"))])


FK_SELECT_LIMIT = 200


def _form_fields(t):
    """The schema's controls; a foreign key to a registered type with few rows (bays, advisors)
    becomes a select of their titles, a long one (clients) stays a number input."""
    from dataclasses import replace

    out = []
    for ff in schema_fields(t.schema):
        column = t.model.__table__.c.get(ff.name)
        res = _linked_type(column) if column is not None and column.foreign_keys else None
        if res is not None and ff.widget == "number" and res.available_to(g.tenant) \
                and current_user.can(res.permission("read")):
            pk = res.model.__mapper__.primary_key[0]
            rows = list(db.session.scalars(select(res.model).order_by(pk).limit(FK_SELECT_LIMIT + 1)))
            if len(rows) <= FK_SELECT_LIMIT:
                ff = replace(ff, widget="select", choices=[(str(_pk(r)), record_title(res.spec, r)) for r in rows])
        out.append(ff)
    return out


def _snapshot(obj, names) -> dict:
    return {n: getattr(obj, n, None) for n in names}


@bp.route("/<slug>/<resource>/new", methods=["GET", "POST"])
def create_page(slug: str, resource: str):
    t, gate = _resolve(slug, resource, "create")
    if gate is not None:
        return gate
    fields_ = _form_fields(t)
    if request.method == "GET":
        return render_template(_templates(t, "form"), **_context(
            t, obj=None, fields=fields_, values=initial_values(fields_, request.args), errors={}))
    try:
        data = localise_datetimes(t.schema().load(form_to_payload(request.form, fields_)), fields_)
    except ValidationError as exc:
        return _invalid(t, None, fields_, exc)
    if is_document(t):
        from .. import documents

        try:
            obj = documents.create_document(t, current_user, **data)
        except documents.DocumentError as exc:
            return _document_error(t, None, fields_, exc)
    else:
        obj = data if isinstance(data, t.model) else t.model(**data)
        if _has_plain_version(t):
            obj.version = 1
        try:
            db.session.add(obj)
            db.session.flush()
            audit.record("create", obj, changes=audit.diff({}, _snapshot(obj, [f.name for f in fields_])))
            db.session.commit()
        except IntegrityError as exc:
            return _integrity_error(t, None, fields_, exc)
    flash(_("Saved."), "success")
    return redirect(url_for("ui_generic.detail_page", slug=slug, resource=resource, object_id=_pk(obj)))


def _has_plain_version(t) -> bool:
    """A ``version`` column the app bumps itself (SQLAlchemy's ``version_id_col`` bumps its own)."""
    from sqlalchemy import inspect

    return "version" in t.model.__table__.c and inspect(t.model).version_id_col is None


def _integrity_error(t, obj, fields_, exc: IntegrityError):
    """A unique key broken by the save: the same answer as the REST API's ("Already exists." on the
    key's fields, 422), anything else a conflict (409); nothing is written."""
    from ..api.resources import _integrity_error as api_integrity_error

    db.session.rollback()
    api_error = api_integrity_error(_resources()[(_slug(t), t.resource)], exc)
    fields_errors = api_error.extra.get("fields") or {}
    flash(str(api_error.message) if not fields_errors else _("Please correct the marked fields."), "error")
    return render_template(_templates(t, "form"), **_context(
        t, obj=obj, fields=fields_, values=request.form, errors=errors_for(fields_errors))), api_error.status


def _pk(obj):
    return obj.__mapper__.primary_key_from_instance(obj)[0]


def _invalid(t, obj, fields_, exc: ValidationError):
    flash(_("Please correct the marked fields."), "error")
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    shown = {f.name for f in fields_}
    for key, value in messages.items():
        if key == "duplicate_of":
            _flash_duplicates(value)
        elif key not in shown:  # whole-form rules (_schema) and fields without a control
            for text in errors_for({key: value}).values():
                flash(text, "error")
    return render_template(_templates(t, "form"), **_context(
        t, obj=obj, fields=fields_, values=request.form, errors=errors_for(exc.messages))), 422


def _flash_duplicates(api_paths) -> None:
    """A schema's ``duplicate_of: ["/api/v1/<slug>/<resource>/<id>"]`` (the REST API's pointer to the
    record the new one would duplicate) as a link to that record's page, named by its title."""
    from markupsafe import Markup

    for path in api_paths if isinstance(api_paths, (list, tuple)) else [api_paths]:
        parts = str(path).strip("/").split("/")
        if len(parts) != 5 or parts[:2] != ["api", "v1"] or not parts[4].isdigit():
            continue
        res = _resources().get((parts[2], parts[3]))
        if res is None or not current_user.can(res.permission("read")):
            continue
        target = db.session.execute(select(res.model).where(res.model.__mapper__.primary_key[0] == int(parts[4]))
                                    ).scalar_one_or_none()
        if target is None:
            continue
        url = url_for("ui_generic.detail_page", slug=res.slug, resource=res.resource, object_id=int(parts[4]))
        link = Markup('<a href="{}">{}</a>').format(url, record_title(res.spec, target))
        # The translation is ours (trusted); the record's title is escaped inside the link.
        flash(Markup(_("Already on file: %(record)s. Open it, or tick the box below to save anyway.",
                       record=link)), "warning")


@bp.get("/<slug>/<resource>/<int:object_id>")
def detail_page(slug: str, resource: str, object_id: int):
    t, gate = _resolve(slug, resource, "read")
    if gate is not None:
        return gate
    obj = _get(t, object_id)
    ctx = ui_context()
    actions, panels, transitions, print_urls, state, history, can_void = [], [], [], {}, None, [], False
    if is_document(t):
        from .. import documents
        from ..web import collect_ui

        actions = collect_ui("document_actions", ctx, document=obj)
        panels = collect_ui("document_panels", ctx, document=obj)
        transitions = _transitions(t, obj)
        print_urls = _print_url(t, obj)
        state = t.workflow.states.get(obj.state)
        history = [(h, t.workflow.states.get(h.to_state)) for h in documents.history(obj)]
        can_void = _can_void(t, obj)
    fields_ = _form_fields(t)
    return render_template(_templates(t, "detail"), **_context(
        t, obj=obj, fields=fields_, actions=actions, panels=panels, transitions=transitions,
        print_urls=print_urls, state=state, history=history, can_void=can_void,
        editable=not is_document(t) or _editable(t, obj)))


def _transitions(t, obj) -> list:
    """The buttons: transitions from the document's state the user has the permission for."""
    from .. import documents

    slug = _slug(t)
    out = []
    for tr in documents.available_transitions(obj, current_user):
        if tr.name == documents.VOID:
            continue  # voiding asks for a reason: a form of its own on the page
        out.append({"name": tr.name, "label": tr.title,
                    "url": url_for("ui_generic.transition_page", slug=slug, resource=t.resource,
                                   object_id=obj.id, name=tr.name)})
    return out


def _can_void(t, obj) -> bool:
    from .. import documents

    return any(tr.name == documents.VOID for tr in documents.available_transitions(obj, current_user))


def _print_url(t, obj) -> dict:
    """Print links (HTML and PDF) of the REST API's print endpoints, which also accept the session."""
    from .shell import url_if

    if not getattr(t, "print_templates", None):
        return {}
    args = {"slug": _slug(t), "resource": t.resource, "object_id": _pk(obj)}
    return {k: v for k, v in (("html", url_if("core_api.print_html", **args)),
                              ("pdf", url_if("core_api.print_pdf", **args))) if v}


@bp.route("/<slug>/<resource>/<int:object_id>/edit", methods=["GET", "POST"])
def edit_page(slug: str, resource: str, object_id: int):
    t, gate = _resolve(slug, resource, "update")
    if gate is not None:
        return gate
    obj = _get(t, object_id, for_update=request.method == "POST" and not is_document(t))
    fields_ = _form_fields(t)
    if is_document(t) and not _editable(t, obj):
        flash(_("This document cannot be changed in its current state."), "error")
        return redirect(url_for("ui_generic.detail_page", slug=slug, resource=resource, object_id=object_id))
    if request.method == "GET":
        return render_template(_templates(t, "form"), **_context(
            t, obj=obj, fields=fields_, values={f.name: getattr(obj, f.name, None) for f in fields_}, errors={}))
    if is_document(t):
        return _update_document(t, obj, fields_)
    if hasattr(obj, "version") and request.form.get("version") not in (None, str(obj.version)):
        flash(_("Someone else changed this record in the meantime. Your changes are below; reload to see theirs."), "error")
        return render_template(_templates(t, "form"), **_context(
            t, obj=obj, fields=fields_, values=request.form, errors={})), 409
    names = {f.name for f in fields_}
    not_in_form = tuple(n for n, f in t.schema().fields.items() if (f.data_key or n) not in names)
    try:
        data = localise_datetimes(
            t.schema().load(form_to_payload(request.form, fields_), partial=not_in_form or False), fields_)
    except ValidationError as exc:
        return _invalid(t, obj, fields_, exc)
    before = _snapshot(obj, names)
    for key, value in (data.items() if isinstance(data, dict) else []):
        setattr(obj, key, value)
    changes = audit.diff(before, _snapshot(obj, names))
    if changes:
        if _has_plain_version(t):
            obj.version = (obj.version or 0) + 1
        audit.record("update", obj, changes=changes)
    try:
        db.session.commit()
    except IntegrityError as exc:
        return _integrity_error(t, _get(t, object_id), fields_, exc)
    except StaleDataError:
        db.session.rollback()
        flash(_("Someone else changed this record in the meantime. Your changes are below; reload to see theirs."), "error")
        return render_template(_templates(t, "form"), **_context(
            t, obj=_get(t, object_id), fields=fields_, values=request.form, errors={})), 409
    flash(_("Saved."), "success")
    return redirect(url_for("ui_generic.detail_page", slug=slug, resource=resource, object_id=object_id))


# --- documents: state, transitions, void, print ------------------------------------------------------

def _editable(t, obj) -> bool:
    state = t.workflow.states.get(obj.state)
    return state is None or not state.immutable


def _form_version():
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return None


def _update_document(t, obj, fields_):
    from .. import documents

    names = {f.name for f in fields_}
    not_in_form = tuple(n for n, f in t.schema().fields.items() if (f.data_key or n) not in names)
    try:
        data = localise_datetimes(
            t.schema().load(form_to_payload(request.form, fields_), partial=not_in_form or False), fields_)
    except ValidationError as exc:
        return _invalid(t, obj, fields_, exc)
    changes = {k: v for k, v in data.items() if getattr(obj, k, None) != v}
    try:
        documents.update_document(obj, current_user, expected_version=_form_version(), **changes)
    except documents.DocumentError as exc:
        return _document_error(t, _get(t, obj.id), fields_, exc)
    flash(_("Saved."), "success")
    return redirect(url_for("ui_generic.detail_page", slug=_slug(t), resource=t.resource, object_id=obj.id))


@bp.post("/<slug>/<resource>/<int:object_id>/transition/<name>")
def transition_page(slug: str, resource: str, object_id: int, name: str):
    """A transition button: the documents engine decides (permission, vetoes, version); the user sees
    its reasons as messages on the document page."""
    from .. import documents

    t, gate = _resolve(slug, resource, "read")
    if gate is not None:
        return gate
    if not is_document(t):
        abort(404)
    obj = _get(t, object_id)
    comment = (request.form.get("comment") or "").strip() or None
    try:
        if name == documents.VOID:
            documents.void(obj, current_user, request.form.get("reason", ""), expected_version=_form_version())
        else:
            documents.transition(obj, name, current_user, comment=comment, expected_version=_form_version())
    except documents.DocumentError as exc:
        if exc.status == 404:
            abort(404)
        for message in exc.messages:
            flash(message, "error")
    else:
        state = t.workflow.states.get(obj.state)
        flash(_("Done: the document is now %(state)s.", state=state.title if state else obj.state), "success")
    return redirect(url_for("ui_generic.detail_page", slug=slug, resource=resource, object_id=object_id))
