"""Printed dates follow the shop's language (Babel) and time zone: ru 02.03.2030 01:05, en 3/2/2030 1:05 AM,
zh 2030/3/2 01:05, whoever prints; also in a template the shop edited."""
import re

import pytest

API = "/api/v1/workshop"
RECEIVED = "2030-03-01T22:05:00+00:00"  # 2 March 01:05 in Moscow


def _shop_in(make_shop, language):
    shop = make_shop()
    with shop.ctx() as s:
        from core.models import Tenant

        row = s.get(Tenant, shop.tenant.id)
        row.language, row.timezone = language, "Europe/Moscow"
        s.commit()
    return shop


@pytest.mark.parametrize("language, received, valid_until", [
    ("ru", "02.03.2030 01:05", "05.04.2030"),
    ("en", "3/2/2030 1:05\u202fAM", "4/5/2030"),  # CLDR puts a narrow no-break space before AM
    ("zh", "2030/3/2 01:05", "2030/4/5"),
])
def test_print_dates_follow_the_shops_locale(make_shop, language, received, valid_until):
    shop = _shop_in(make_shop, language)
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"],
                                             "received_at": RECEIVED})
    html = shop.api.get(f"{API}/service-orders/{so['id']}/print").get_data(as_text=True)  # asked in English
    assert received in html
    estimate = shop.post(f"{API}/estimates", {"client_id": client["id"], "vehicle_id": car["id"],
                                              "valid_until": "2030-04-05"})
    html = shop.api.get(f"{API}/estimates/{estimate['id']}/print").get_data(as_text=True)
    assert valid_until in html and "2030-04-05" not in html


def test_an_edited_template_formats_dates_the_same_way(make_shop, login):
    shop = _shop_in(make_shop, "ru")
    client, car = shop.client_and_car()
    estimate = shop.post(f"{API}/estimates", {"client_id": client["id"], "vehicle_id": car["id"],
                                              "valid_until": "2030-04-05"})
    ui = shop.app.test_client()
    ui.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    login(ui, shop.user)
    page = "/workshop/print-templates/workshop.estimate"
    token = re.search(r'name="csrf_token" value="([^"]+)"', ui.get(page).get_data(as_text=True)).group(1)
    body = ('{% extends "workshop/print/_base.html" %}{% block content %}'
            '<p>Действует до {{ ws_date(doc.valid_until) }}, составлена {{ ws_date(doc.created_at) }}</p>'
            '{% endblock %}')
    r = ui.post(page, data={"csrf_token": token, "body": body, "action": "save"})
    assert r.status_code == 302, r.get_data(as_text=True)
    html = shop.api.get(f"{API}/estimates/{estimate['id']}/print").get_data(as_text=True)
    assert re.search(r"Действует до 05\.04\.2030, составлена \d\d\.\d\d\.\d{4}</p>", html), html[-600:]
