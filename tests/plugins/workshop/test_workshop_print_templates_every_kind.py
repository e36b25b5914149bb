"""Every workshop document's print template is editable, not only the work order's main one: service
order, work order (main form and shop copy), estimate and diagnostic act are listed in the editor, a
broken template shows its error and the previous version stays active, and printing (HTML and PDF)
uses each form's own newest template."""
import re
from io import BytesIO

import pytest

API = "/api/v1/workshop"
PAGE = "/workshop/print-templates"
KINDS = {  # document type key -> (resource, title on the list, a text of its built-in template)
    "workshop.service_order": ("service-orders", "Service orders", "Service order (reception act)"),
    "workshop.work_order": ("work-orders", "Work orders", "Parts and materials"),
    "workshop.estimate": ("estimates", "Estimates", None),
    "workshop.diagnostic_act": ("diagnostic-acts", "Diagnostic acts", None),
}


def _document(shop, resource):
    client, car = shop.client_and_car()
    body = {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 100}
    if resource == "estimates":
        body["items"] = [{"name": "Замена свечей", "hours": "0.5", "rate": "2000.00"}]
    if resource == "diagnostic-acts":
        body["findings"] = [{"item": "Свечи", "status": "urgent", "job": "Замена свечей"}]
    return shop.post(f"{API}/{resource}", body)


def _ui(shop, login):
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    return ui


def _form(ui, url, **data):
    token = re.search(r'name="csrf_token" value="([^"]+)"', ui.get(url).get_data(as_text=True)).group(1)
    return ui.post(url, data={"csrf_token": token, **data})


def _mine(label):
    return ('{% extends "workshop/print/_base.html" %}{% block content %}<h1>' + label +
            ' {{ doc.number }}</h1><p>{{ ws_print_info(doc).client_name }}</p>{% endblock %}')


FORMS = [(key, "default") for key in KINDS] + [("workshop.work_order", "shop_copy")]


@pytest.mark.parametrize("key,name", FORMS)
def test_each_form_has_its_own_editable_template(shop, login, key, name):
    resource, title, builtin_text = KINDS[key]
    if name == "shop_copy":
        builtin_text = "shop copy"
    query = "" if name == "default" else f"?template={name}"
    doc = _document(shop, resource)
    others = {k: _document(shop, r) for k, (r, _t, _b) in KINDS.items() if k != key}
    ui = _ui(shop, login)
    listing = ui.get(PAGE).get_data(as_text=True)
    for k, (_r, t, _b) in KINDS.items():  # the editor lists every kind and form
        assert t in listing and f'href="{PAGE}/{k}"' in listing
    assert f'href="{PAGE}/workshop.work_order/shop_copy"' in listing and "Shop copy" in listing
    url = f"{PAGE}/{key}" + ("" if name == "default" else f"/{name}")
    edit = ui.get(url)
    assert edit.status_code == 200 and "workshop/print/_base.html" in edit.get_data(as_text=True)
    builtin = shop.api.get(f"{API}/{resource}/{doc['id']}/print{query}").get_data(as_text=True)
    assert doc["number"] in builtin and (builtin_text is None or builtin_text in builtin)

    label = "ФОРМА-" + key.split(".")[1].upper() + "-" + name.upper()
    assert _form(ui, url, body=_mine(label), action="save").status_code == 302
    printed = shop.api.get(f"{API}/{resource}/{doc['id']}/print{query}").get_data(as_text=True)
    assert f"{label} {doc['number']}" in printed and "Иванов Иван Иванович" in printed
    if name != "default":  # the main form is another template; the order's page links the shop copy
        assert label not in shop.api.get(f"{API}/{resource}/{doc['id']}/print").get_data(as_text=True)
        page = ui.get(f"/workshop/{resource}/{doc['id']}").get_data(as_text=True)
        assert f'href="{API}/{resource}/{doc["id"]}/print?template=shop_copy"' in page
    pdf = shop.api.get(f"{API}/{resource}/{doc['id']}/print.pdf{query}")
    from pypdf import PdfReader

    assert label in "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.data)).pages)

    # A broken template: the error with its line, nothing saved, version 1 still prints.
    broken = _form(ui, url, body="<h1>{{ doc.number }}</h1>\n{% for x in doc %}\n<p>no endfor", action="save")
    assert broken.status_code == 422
    text = broken.get_data(as_text=True)
    assert "not saved" in text and re.search(r"Line [23]", text) and "endfor" in text, text[text.find("<main"):][:800]
    assert "&lt;p&gt;no endfor" in text  # what was typed is kept in the form
    fails_on_render = _form(ui, url, body="ok\n{{ doc.number // 0 }}", action="save")
    assert fails_on_render.status_code == 422 and "Line 2" in fails_on_render.get_data(as_text=True)
    assert "Your template, version 1" in ui.get(PAGE).get_data(as_text=True)
    assert f"{label} {doc['number']}" in shop.api.get(f"{API}/{resource}/{doc['id']}/print{query}").get_data(as_text=True)

    # The other kinds still print with their built-in templates.
    for k, other in others.items():
        assert label not in shop.api.get(f"{API}/{KINDS[k][0]}/{other['id']}/print").get_data(as_text=True)

    # Restoring the built-in template is a new version too.
    assert _form(ui, url, body="", action="builtin").status_code == 302
    with shop.ctx():
        from plugins.workshop.print_templates import versions

        assert [v.version for v in versions(key, name)] == [2, 1]
    assert label not in shop.api.get(f"{API}/{resource}/{doc['id']}/print{query}").get_data(as_text=True)
    assert ui.get(f"{PAGE}/{key}/no_such_form").status_code == 404
