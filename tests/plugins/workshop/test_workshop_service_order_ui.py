"""The reception desk in the UI: a service order made on its form (field errors in the user's language,
nothing saved on a bad input), then "Make a work order" from its page (the button, the new order's
page with the client, car, mileage and complaint, refusals as messages, rights and tenants)."""
import re
from html import unescape

API = "/api/v1/workshop"


def _ui(shop, login, language="en"):
    client = shop.app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    login(client, shop.user)
    return client


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _post(ui, url, **data):
    token = _token(ui.get("/workshop/service-orders/new").get_data(as_text=True))
    return ui.post(url, data={"csrf_token": token, **data})


def _count(shop, model_name):
    from sqlalchemy import func, select

    from plugins.workshop import models

    model = getattr(models, model_name)
    with shop.ctx() as s:
        return s.scalar(select(func.count(model.id)))


def test_a_service_order_is_made_on_its_form(shop, login, make_shop):
    client, car = shop.client_and_car()
    ui = _ui(shop, login)
    form = unescape(ui.get("/workshop/service-orders/new").get_data(as_text=True))
    for name in ("client_id", "vehicle_id", "odometer", "fuel_level", "complaint", "condition_notes"):
        assert f'name="{name}"' in form, name

    # A bad input: the form comes back with the messages by the fields, what was typed is kept, nothing saved.
    r = _post(ui, "/workshop/service-orders/new", client_id=str(client["id"]), vehicle_id=str(car["id"]),
              odometer="-5", fuel_level="33", complaint="Стучит подвеска")
    page = unescape(r.get_data(as_text=True))
    assert r.status_code == 422
    assert "Choose one of 0, 25, 50, 75, 100 (percent of the tank)." in page and "Стучит подвеска" in page
    assert _count(shop, "ServiceOrder") == 0

    r = _post(ui, "/workshop/service-orders/new", client_id=str(client["id"]), vehicle_id=str(car["id"]),
              odometer="45210", fuel_level="50", complaint="Стучит подвеска",
              condition_notes="Скол на лобовом стекле")
    assert r.status_code == 302, r.get_data(as_text=True)
    so_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    so = shop.api.get(f"{API}/service-orders/{so_id}").get_json()
    assert (so["number"][:3], so["state"], so["client_id"], so["vehicle_id"], so["odometer"], so["fuel_level"]) == (
        "SO-", "draft", client["id"], car["id"], 45210, 50)
    page = unescape(ui.get(f"/workshop/service-orders/{so_id}").get_data(as_text=True))
    assert so["number"] in page and "Стучит подвеска" in page and "Make a work order" in page

    # In Russian, the same mistake is explained in Russian.
    ru = _ui(shop, login, "ru")
    token = _token(ru.get("/workshop/service-orders/new").get_data(as_text=True))
    r = ru.post("/workshop/service-orders/new", data={"csrf_token": token, "client_id": str(client["id"]),
                                                      "vehicle_id": str(car["id"]), "fuel_level": "33"})
    assert r.status_code == 422 and "Выберите" in unescape(r.get_data(as_text=True))

    # A cashier may see service orders but not make them; another shop's client is not offered.
    cashier = make_shop(role="cashier", t=shop.tenant)
    assert _ui(cashier, login).get("/workshop/service-orders/new").status_code == 403
    other = make_shop()
    stranger, stranger_car = other.client_and_car("Чужой Клиент")
    r = _post(ui, "/workshop/service-orders/new", client_id=str(stranger["id"]), vehicle_id=str(stranger_car["id"]))
    assert r.status_code == 422 and _count(shop, "ServiceOrder") == 1


def test_make_a_work_order_from_the_service_order_page(shop, login, make_shop):
    client, car = shop.client_and_car()
    so = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"], "odometer": 45210,
                                             "complaint": "Скрип тормозов"})
    shop.transition("service-orders", so["id"], "accept")
    ui = _ui(shop, login)
    page = unescape(ui.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True))
    assert f'action="/workshop/service-orders/{so["id"]}/make-work-order"' in page

    r = _post(ui, f"/workshop/service-orders/{so['id']}/make-work-order")
    assert r.status_code == 302
    wo_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert r.headers["Location"].endswith(f"/workshop/work-orders/{wo_id}")
    wo = shop.api.get(f"{API}/work-orders/{wo_id}").get_json()
    assert (wo["service_order_id"], wo["client_id"], wo["vehicle_id"], wo["odometer"], wo["complaint"]) == (
        so["id"], client["id"], car["id"], 45210, "Скрип тормозов")
    page = unescape(ui.get(r.headers["Location"]).get_data(as_text=True))
    assert f"Work order {wo['number']} made." in page and "Add a job" in page

    # Cancelled: no button any more, and a forged post is refused with a message, nothing made.
    done = shop.post(f"{API}/service-orders", {"client_id": client["id"], "vehicle_id": car["id"]})
    shop.transition("service-orders", done["id"], "cancel")
    page = unescape(ui.get(f"/workshop/service-orders/{done['id']}").get_data(as_text=True))
    assert "make-work-order" not in page
    before = _count(shop, "WorkOrder")
    r = _post(ui, f"/workshop/service-orders/{done['id']}/make-work-order")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/workshop/service-orders/{done['id']}")
    follow = unescape(ui.get(r.headers["Location"]).get_data(as_text=True))
    assert "This service order is closed or cancelled." in follow
    assert _count(shop, "WorkOrder") == before

    # A technician may not make work orders; another shop's service order is not there at all.
    tech = make_shop(role="technician", t=shop.tenant)
    tech_ui = _ui(tech, login)
    token = _token(tech_ui.get(f"/workshop/service-orders/{so['id']}").get_data(as_text=True))
    assert tech_ui.post(f"/workshop/service-orders/{so['id']}/make-work-order",
                        data={"csrf_token": token}).status_code == 403
    other = make_shop()
    assert _post(_ui(other, login), f"/workshop/service-orders/{so['id']}/make-work-order").status_code == 404
    assert _count(shop, "WorkOrder") == before
