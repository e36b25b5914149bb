"""The generic API on a numbered document (tests/fixture_plugins/api_invoices): create with a
number, optimistic locking, workflow transitions, void instead of delete, print forms (HTML, PDF)."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

INVOICES = "/api/v1/api_invoices/invoices"


@pytest.fixture
def garage_config():
    # the same plugin set as test_api.py: one migrated template database serves both
    return {"GARAGE_EXTRA_PLUGINS": {"api_things": "tests.fixture_plugins.api_things",
                                     "api_invoices": "tests.fixture_plugins.api_invoices"}}


@pytest.fixture
def shop(app, tenant):
    from core.db import db
    from core.tenants import get_tenant, set_feature

    def make(grant: bool = True):
        t = tenant()
        if grant:
            with app.app_context():
                set_feature(get_tenant(t.slug), "api_invoices.use", True)
                db.session.commit()
        return t

    return make


@pytest.fixture
def api(app, user, token):
    """A client with an API token of a new user (role) in tenant t."""

    def make(t, role: str = "service_advisor"):
        client = app.test_client()
        client.environ_base.update(HTTP_AUTHORIZATION=f"Bearer {token(user(role=role, tenant=t))}",
                                   HTTP_ACCEPT_LANGUAGE="en")
        return client

    return make


def _audit_actions(app, t, object_id):
    from core.audit import AuditLog
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    with app.app_context(), tenant_context(tenant_info(db.session.get(Tenant, t.id))):
        return [(r.action, r.changes) for r in db.session.scalars(select(AuditLog).where(
            AuditLog.object_type == "api_invoices_invoice", AuditLog.object_id == object_id).order_by(AuditLog.id))]


def test_document_lifecycle_over_the_api(app, shop, api):
    t = shop()
    client = api(t)
    created = client.post(INVOICES, json={"customer": "ООО «Ромашка»", "total": "0"})
    assert created.status_code == 201, created.json
    doc = created.json
    assert doc["number"].startswith("INV-") and doc["state"] == "draft" and doc["version"] == 1
    assert doc["total"] == "0.00"
    url = f"{INVOICES}/{doc['id']}"

    # the guard vetoes issuing an invoice with no total; nothing changes
    vetoed = client.post(f"{url}/transitions/issue")
    assert vetoed.status_code == 422 and vetoed.json["error"] == "vetoed"
    assert vetoed.json["messages"] == ["An invoice needs a positive total"]
    assert client.post(f"{url}/transitions/fly").status_code == 409

    edited = client.patch(url, json={"version": 1, "total": "1500.00"})
    assert edited.status_code == 200 and edited.json["version"] == 2
    stale = client.patch(url, json={"version": 1, "customer": "Someone else"})
    assert stale.status_code == 409
    assert stale.json["current_version"] == 2 and stale.json["changed_fields"] == ["total"]
    assert client.patch(url, json={"version": 2, "number": "X-1"}).status_code == 422  # read-only

    stale_issue = client.post(f"{url}/transitions/issue", json={"version": 1})
    assert stale_issue.status_code == 409 and stale_issue.json["current_version"] == 2
    issued = client.post(f"{url}/transitions/issue", json={"version": 2, "comment": "sent"})
    assert issued.status_code == 200 and issued.json["state"] == "issued" and issued.json["version"] == 3
    # issued is immutable: edits are refused, the number stays
    immutable = client.patch(url, json={"version": 3, "customer": "Changed"})
    assert immutable.status_code == 409 and immutable.json["error"] == "immutable"

    # numbered documents are voided, never deleted: a reason is required
    no_reason = client.delete(url)
    assert no_reason.status_code == 422 and set(no_reason.json["fields"]) == {"reason"}
    voided = client.delete(url, json={"reason": "Duplicate"})
    assert voided.status_code == 200 and voided.json["state"] == "void" and voided.json["void_reason"] == "Duplicate"
    assert client.get(url).json["number"] == doc["number"]
    listed = client.get(f"{INVOICES}?state=void").json
    assert [d["id"] for d in listed["items"]] == [doc["id"]]

    actions = [a for a, _c in _audit_actions(app, t, doc["id"])]
    assert actions == ["create", "update", "transition", "void"]


def test_document_permissions(app, shop, api):
    t = shop()
    advisor = api(t)
    doc = advisor.post(INVOICES, json={"customer": "A", "total": "10"}).json
    url = f"{INVOICES}/{doc['id']}"
    technician = api(t, "technician")
    assert technician.get(url).status_code == 200
    assert technician.post(INVOICES, json={"customer": "B"}).status_code == 403
    assert technician.post(f"{url}/transitions/issue", json={}).status_code == 403
    assert technician.delete(url, json={"reason": "x"}).status_code == 403
    assert advisor.get(url).json["state"] == "draft"


def test_print_forms_html_and_pdf_with_cyrillic(app, shop, api):
    from pypdf import PdfReader

    client = api(shop())
    doc = client.post(INVOICES, json={"customer": "Иванов Пётр", "total": "99.90"}).json
    html = client.get(f"{INVOICES}/{doc['id']}/print")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert f"Счёт № {doc['number']}" in html.get_data(as_text=True)

    pdf = client.get(f"{INVOICES}/{doc['id']}/print.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Иванов Пётр" in text and doc["number"] in text and "99.90" in text
    assert client.get(f"{INVOICES}/{doc['id']}/print?template=nope").status_code == 404


def test_other_tenants_and_tiers_see_nothing(app, shop, api):
    owner = api(shop())
    doc = owner.post(INVOICES, json={"customer": "A", "total": "10"}).json
    url = f"{INVOICES}/{doc['id']}"
    other = api(shop())
    no_plan = api(shop(grant=False))
    for client in (other, no_plan):
        for method, path, body in (("GET", url, None), ("PATCH", url, {"version": 1, "customer": "x"}),
                                   ("DELETE", url, {"reason": "x"}), ("POST", f"{url}/transitions/issue", {}),
                                   ("GET", f"{url}/print", None), ("GET", f"{url}/print.pdf", None)):
            response = client.open(path, method=method, json=body)
            assert response.status_code == 404, (method, path)
    assert no_plan.get(INVOICES).status_code == 404
    assert other.get(INVOICES).json["total"] == 0
    assert owner.get(url).json == doc


def test_openapi_documents_transitions_void_and_print(app, client):
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    paths = spec["paths"]
    transition = paths[INVOICES + "/{id}/transitions/{name}"]
    names = next(p for p in transition["parameters"] if p["name"] == "name")["schema"]["enum"]
    assert names == ["issue", "void"]
    assert paths[INVOICES + "/{id}"]["delete"]["operationId"] == "api_invoices_invoices_void"
    assert "application/pdf" in paths[INVOICES + "/{id}/print.pdf"]["get"]["responses"]["200"]["content"]
