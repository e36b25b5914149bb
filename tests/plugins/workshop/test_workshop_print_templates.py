"""The shop edits its print templates: saved versions, broken ones refused with their line, printing
(HTML and PDF) uses the newest; a template failing at print time falls back to the built-in one."""
import re
from io import BytesIO

API = "/api/v1/workshop"

PAGE = "/workshop/print-templates"
WO_PAGE = f"{PAGE}/workshop.work_order"
MINE = """{% extends "workshop/print/_base.html" %}
{% block content %}<h1>НАШ НАРЯД {{ doc.number }}</h1>
<p>{{ ws_print_info(doc).client_name }}, {{ 100 // doc.odometer }} км/100</p>{% endblock %}
"""


def _order(shop, odometer=100):
    c, car = shop.client_and_car()
    return shop.work_order(client_id=c["id"], vehicle_id=car["id"], odometer=odometer)


def _page_client(shop, login):
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    return ui


def _form(ui, url, **data):
    token = re.search(r'name="csrf_token" value="([^"]+)"', ui.get(url).get_data(as_text=True)).group(1)
    return ui.post(url, data={"csrf_token": token, **data})


def test_the_shop_edits_a_template_and_printing_uses_the_newest_valid_one(shop, login):
    wo = _order(shop)
    ui = _page_client(shop, login)
    listing = ui.get(PAGE).get_data(as_text=True)
    assert "Work orders" in listing and "Built-in" in listing
    edit = ui.get(WO_PAGE).get_data(as_text=True)
    assert "workshop/print/_base.html" in edit  # the built-in source to start from

    broken = _form(ui, WO_PAGE, body="<h1>{{ doc.number }}</h1>\n{% if doc.number %}\n<p>unclosed", action="save")
    assert broken.status_code == 422
    text = broken.get_data(as_text=True)
    assert "not saved" in text and "Line 2" in text and "endif" in text, text[text.find("<main"):][:1500]
    assert "&lt;p&gt;unclosed" in text  # the user's text is kept in the form
    assert "Built-in" in ui.get(PAGE).get_data(as_text=True)

    preview = _form(ui, WO_PAGE, body=MINE, action="preview")
    assert preview.status_code == 200 and "НАШ НАРЯД " + wo["number"] in preview.get_data(as_text=True)

    saved = _form(ui, WO_PAGE, body=MINE, action="save")
    assert saved.status_code == 302
    printed = shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "НАШ НАРЯД " + wo["number"] in printed and "Иванов Иван Иванович, 1 км/100" in printed
    pdf = shop.api.get(f"{API}/work-orders/{wo['id']}/print.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    from pypdf import PdfReader

    assert "НАШ НАРЯД" in "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.data)).pages)

    # A sandbox escape and a template that fails on the newest order are refused; version 1 stays.
    escape = _form(ui, WO_PAGE, body="{{ doc.__class__.__mro__ }}", action="save")
    assert escape.status_code == 422 and "not saved" in escape.get_data(as_text=True)
    failing = _form(ui, WO_PAGE, body="line one\n{{ 1 // (doc.odometer - 100) }}", action="save")
    assert failing.status_code == 422 and "Line 2" in failing.get_data(as_text=True)
    assert "Your template, version 1" in ui.get(PAGE).get_data(as_text=True)
    assert shop.user.email in ui.get(WO_PAGE).get_data(as_text=True)  # who saved the version
    assert "НАШ НАРЯД" in shop.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)

    with shop.ctx() as db_session:
        from core.models import User
        from plugins.workshop.print_templates import sandbox, versions

        assert [(v.version, v.created_by) for v in versions("workshop.work_order")] == [(1, shop.user.id)]
        # Secrets of rows a template can reach print as nothing.
        me = db_session.get(User, shop.user.id)
        assert me.password_hash and sandbox().from_string("[{{ u.password_hash }}]").render(u=me) == "[]"


def test_a_template_failing_at_print_time_falls_back_to_the_built_in_one_with_a_note(shop, login):
    _order(shop, odometer=100)
    ui = _page_client(shop, login)
    assert _form(ui, WO_PAGE, body=MINE, action="save").status_code == 302
    zero = _order(shop, odometer=0)  # 100 // 0 fails on this order only
    r = shop.api.get(f"{API}/work-orders/{zero['id']}/print")
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert "ws-template-error" in text and "ZeroDivisionError" in text and "Line 3" in text
    assert "Parts and materials" in text and zero["number"] in text  # the built-in template
    assert shop.api.get(f"{API}/work-orders/{zero['id']}/print.pdf").status_code == 200


def test_only_managers_edit_templates_and_other_shops_keep_the_built_in_one(shop, make_shop, login):
    ui = _page_client(shop, login)
    assert _form(ui, WO_PAGE, body=MINE, action="save").status_code == 302
    other = make_shop()
    wo = _order(other)
    printed = other.api.get(f"{API}/work-orders/{wo['id']}/print").get_data(as_text=True)
    assert "НАШ НАРЯД" not in printed and "Parts and materials" in printed
    tech = make_shop(role="technician", t=shop.tenant)
    tech_ui = _page_client(tech, login)
    assert tech_ui.get(PAGE).status_code == 403
    assert tech_ui.get(WO_PAGE).status_code == 403
    assert ui.get(f"{PAGE}/crm.client").status_code == 404
