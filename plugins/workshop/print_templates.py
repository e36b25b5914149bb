"""Print templates the tenant edits: every print form of every workshop document type (the service
order, the work order and its shop copy, the estimate, the diagnostic act), kept with its history.

Every save adds a version (``workshop_print_template``: tenant, document type, form name, version, body,
author, time); the newest is active. A template is only saved when it compiles (and renders on the newest
document of its type, when there is one), so the newest version is always a valid one. Tenant
templates run in Jinja's immutable sandbox: they read the document, they cannot call into Python
internals or change lists. The documents engine asks :func:`render_tenant_print` first (the
``print_renderer`` of the workshop's document types), so HTML and PDF printing both use the tenant's
template; one that fails at render time falls back to the built-in template with a visible note.
"""
from __future__ import annotations

import logging
import traceback
from datetime import datetime
from pathlib import Path

from flask import current_app
from markupsafe import Markup
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.branding import logo_data_uri
from core.db import TenantScoped, db
from core.i18n import domain
from core.models import Tenant, utcnow

_w = domain("workshop").gettext
log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "<template>"  # the file name Jinja gives a template made from a string
MAX_BODY = 200_000
SECRET_WORDS = {"password", "hash", "token", "secret", "totp"}


class PrintTemplate(TenantScoped, db.Model):
    """One saved version of a tenant's print template for a document type (newest = active)."""

    __tablename__ = "workshop_print_template"
    __table_args__ = (UniqueConstraint("tenant_id", "doc_type", "template", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(80))
    template: Mapped[str] = mapped_column(String(40), default="default")  # the print form's name
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


MODELS = [PrintTemplate]


class TemplateProblem(Exception):
    """A template that does not compile or render: the line (when known) and Jinja's message."""

    def __init__(self, line: int | None, message: str):
        super().__init__(message)
        self.line, self.message = line, message

    def __str__(self) -> str:
        if self.line:
            return _w("Line %(line)s: %(message)s", line=self.line, message=self.message)
        return self.message


def sandbox():
    """The sandboxed environment for tenant templates: the built-in templates can be extended
    (``{% extends "workshop/print/_base.html" %}``), ``_w``, ``ws_print_info`` and ``ws_date`` are available."""
    from jinja2 import FileSystemLoader
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from .printing import _w as gettext, print_date, print_info

    class PrintSandbox(ImmutableSandboxedEnvironment):
        # Rows reachable from the document (users, tokens) carry secrets a printout never needs.
        def is_safe_attribute(self, obj, attr, value):
            return not SECRET_WORDS.intersection(str(attr).lower().split("_")) and super().is_safe_attribute(
                obj, attr, value)

    env = current_app.extensions.get("workshop_print_sandbox")
    if env is None:
        env = PrintSandbox(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
        env.globals.update(_w=gettext, ws_print_info=print_info, ws_date=print_date)
        current_app.extensions["workshop_print_sandbox"] = env
    return env


def _problem(exc: Exception) -> TemplateProblem:
    from jinja2 import TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError):
        return TemplateProblem(exc.lineno, exc.message or str(exc))
    # Jinja rewrites tracebacks so that template frames carry the template's line numbers.
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == TEMPLATE_NAME:
            line = frame.lineno
    return TemplateProblem(line, f"{type(exc).__name__}: {exc}")


def document_types() -> list:
    from .documents import DIAGNOSTIC_ACT, ESTIMATE, SERVICE_ORDER, WORK_ORDER

    return [SERVICE_ORDER, WORK_ORDER, ESTIMATE, DIAGNOSTIC_ACT]


def document_type(key: str):
    return next((dt for dt in document_types() if dt.key == key), None)


def form_title(name: str) -> str:
    return {"default": _w("Main form"), "shop_copy": _w("Shop copy (for the technicians, no prices)")}.get(name, name)


def forms() -> list[tuple]:
    """Every (document type, print form name) the shop can edit, in the editor's order."""
    return [(dt, name) for dt in document_types() for name in dt.print_templates]


def builtin_source(dt, name: str = "default") -> str:
    return (TEMPLATES_DIR / dt.print_templates[name]).read_text(encoding="utf-8")


def _of(key: str, name: str):
    return (PrintTemplate.doc_type == key) & (PrintTemplate.template == name)


def active(key: str, name: str = "default") -> PrintTemplate | None:
    return db.session.scalars(select(PrintTemplate).where(_of(key, name))
                              .order_by(PrintTemplate.version.desc()).limit(1)).first()


def active_all() -> dict[tuple[str, str], PrintTemplate]:
    """The active version of every edited form, in one query (the editor's list)."""
    out: dict[tuple[str, str], PrintTemplate] = {}
    for row in db.session.scalars(select(PrintTemplate).order_by(PrintTemplate.version)):
        out[(row.doc_type, row.template)] = row
    return out


def versions(key: str, name: str = "default") -> list[PrintTemplate]:
    return list(db.session.scalars(select(PrintTemplate).where(_of(key, name))
                                   .order_by(PrintTemplate.version.desc())))


def sample_document(dt):
    """The newest document of the type, to try a template on (None when there is none yet)."""
    return db.session.scalars(select(dt.model).order_by(dt.model.id.desc()).limit(1)).first()


def _context(dt, doc) -> dict:
    tenant = db.session.get(Tenant, doc.tenant_id)
    return dict(doc=doc, doc_type=dt, state=dt.workflow.states.get(doc.state), tenant=tenant,
                requisites=tenant.requisites or {}, logo=logo_data_uri(tenant))


def render_body(body: str, context: dict) -> str:
    """Render a tenant template; :class:`TemplateProblem` when it does not compile or render."""
    try:
        return sandbox().from_string(body).render(**context)
    except Exception as exc:  # any error of the tenant's template, reported with its line
        raise _problem(exc) from exc


def check(dt, body: str) -> str | None:
    """Compile ``body`` and render it on the newest document: the HTML (None without a document)."""
    if not body.strip():
        raise TemplateProblem(None, _w("The template is empty."))
    if len(body) > MAX_BODY:
        raise TemplateProblem(None, _w("The template is too long."))
    try:
        sandbox().from_string(body)
    except Exception as exc:
        raise _problem(exc) from exc
    doc = sample_document(dt)
    return render_body(body, _context(dt, doc)) if doc is not None else None


def save(dt, body: str, user, name: str = "default") -> PrintTemplate:
    """Check ``body`` and add it as the newest version of print form ``name``; a broken template
    raises :class:`TemplateProblem` and nothing is saved (the previous version stays active)."""
    check(dt, body)
    current = db.session.scalar(select(func.max(PrintTemplate.version)).where(_of(dt.key, name)))
    row = PrintTemplate(doc_type=dt.key, template=name, version=(current or 0) + 1, body=body,
                        created_by=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    audit.record("workshop.print_template.save", row, changes={"doc_type": dt.key, "template": name,
                                                               "version": row.version})
    return row


def _fallback_note(problem: TemplateProblem) -> Markup:
    return Markup('<div class="ws-template-error" style="border:1px solid #b00;color:#900;padding:2mm;'
                  'margin-bottom:3mm">{}</div>').format(
        _w("The shop's print template failed (%(problem)s); the built-in template is shown.",
           problem=str(problem)))


def render_tenant_print(doc, template, context, builtin):
    """The ``print_renderer`` of the workshop's document types (see :mod:`core.documents.types`): the
    shop's newest version of the print form ``template``, when it has one."""
    row = active(context["doc_type"].key, template)
    if row is None:
        return None
    try:
        return render_body(row.body, context)
    except TemplateProblem as problem:
        log.warning("tenant %s print template %s v%s failed: %s", doc.tenant_id, row.doc_type, row.version,
                    problem)
        html = builtin()
        note = str(_fallback_note(problem))
        return html.replace("<body>", "<body>" + note, 1) if "<body>" in html else note + html


__all__ = ["PrintTemplate", "TemplateProblem", "save", "check", "active", "versions", "render_tenant_print"]
