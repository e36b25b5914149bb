"""Reception's cards and forms: the client card (cars, consent, messages, recommendations, merge), the
vehicle card and service book (owners, plates, drivers, odometer with flags), deciding recommendations,
search results that lead to the cards, duplicate warnings that link to the existing record, translated
labels, pre-filled new forms and parts in manual service-book entries."""
import re
from datetime import date, timedelta

from test_crm_ui import _csrf
from tests.plugins.crm.shop_clock import shop_today

VIN = "XTA219000K0123456"


def _make(crm, shop=None):
    """Client "Ivan Petrov" (SMS consent) with car A123BC77, an open recommendation and a sent SMS."""
    from plugins.crm.messages import Message
    from plugins.crm.models import Client, Recommendation, Vehicle

    with crm.ctx(shop) as s:
        ivan = Client(name="Ivan Petrov", consent_sms=True)
        ivan.phones = ["+79161234567"]
        s.add(ivan)
        s.flush()
        car = Vehicle(client_id=ivan.id, plate="А123ВС77", vin=VIN, make="Kia", model="Rio")
        s.add(car)
        s.flush()
        rec = Recommendation(vehicle_id=car.id, text="Replace the brake pads", urgency="high")
        s.add(rec)
        s.add(Message(client_id=ivan.id, vehicle_id=car.id, event="reminder_due", channel="sms",
                      recipient="+79161234567", body="Time for an oil change", status="sent",
                      idempotency_key="t-1"))
        s.flush()
        return {"client": ivan.id, "car": car.id, "rec": rec.id}


def test_client_card_shows_cars_consent_messages_and_recommendations(crm, tenant, user, api_client):
    shop = tenant(tier="master")  # messages come with crm.basic
    ids = _make(crm, shop)
    html = api_client(user(role="service_advisor", tenant=shop)).get(f"/crm/clients/{ids['client']}").get_data(as_text=True)
    assert f'href="/crm/vehicles/{ids["car"]}"' in html and "A123BC77" in html
    assert f'/crm/vehicles/{ids["car"]}/history' in html
    assert f'/crm/vehicles/new?client_id={ids["client"]}' in html  # "Add car" with the owner pre-filled
    consent = re.search(r'class="crm-consent-sms">(.*?)</li>', html).group(1)
    assert re.match(r"SMS: agreed on \d", consent)  # with the date it was given
    assert "E-mail: no consent" in html
    messages = html[html.index("crm-client-messages"):]
    assert "Time for an oil change" in messages and "Sent" in messages and ">SMS +79161234567" in messages
    recs = html[html.index("crm-recommendations"):]
    assert "Replace the brake pads" in recs and "High" in recs and "Client declines" in recs
    assert "Allow duplicate" not in html and "Save even if" not in html  # a save instruction, not a property
    # Without crm.basic the card has no messages section, the rest is there.
    basic = crm.client.get(f"/crm/clients/{_make(crm)['client']}").get_data(as_text=True)
    assert "crm-client-messages" not in basic and "crm-client-cars" in basic


def test_merge_a_duplicate_from_the_card(crm, user, api_client):
    from plugins.crm.models import Client, Vehicle

    ids = _make(crm)
    with crm.ctx() as s:
        dup = Client(name="Ivan Petroff")
        dup.phones = ["+79030000001"]
        s.add(dup)
        s.flush()
        s.add(Vehicle(client_id=dup.id, plate="В456ОР99", make="Ford"))
        s.flush()
        dup_id = dup.id
    c = crm.client
    card = f"/crm/clients/{ids['client']}"
    assert f'{card}/merge"' in c.get(card).get_data(as_text=True)
    found = c.get(f"{card}/merge?q=0001").get_data(as_text=True)  # the duplicate's phone suffix
    assert f"source_id={dup_id}" in found and f"source_id={ids['client']}" not in found  # never itself
    confirm = c.get(f"{card}/merge?source_id={dup_id}").get_data(as_text=True)
    assert "Ivan Petroff" in confirm and "B456OP99" in confirm and "cannot be undone" in confirm
    r = c.post(f"{card}/merge", data={"csrf_token": _csrf(confirm), "source_id": dup_id})
    assert r.status_code == 303 and r.headers["Location"].endswith(card)
    html = c.get(card).get_data(as_text=True)
    assert "Ivan Petroff is merged into this client: vehicles moved: 1" in html
    assert "B456OP99" in html and "+79030000001" in html
    assert c.get(f"/crm/clients/{dup_id}").status_code == 404
    with crm.ctx() as s:
        from core.audit import AuditLog
        from sqlalchemy import select

        assert s.scalar(select(AuditLog.action).where(AuditLog.object_id == ids["client"],
                                                      AuditLog.action == "merge")) == "merge"
        assert s.get(Vehicle, ids["car"]).client_id == ids["client"]
    technician = api_client(user(role="technician", tenant=crm.tenant))
    assert technician.get(f"{card}/merge").status_code == 403


def test_vehicle_card_odometer_flags_drivers_owners_and_plates(crm):
    ids = _make(crm)
    c = crm.client
    with crm.ctx() as s:
        from plugins.crm.models import Client

        son = Client(name="Petr Petrov")
        s.add(son)
        s.flush()
        son_id = son.id
    # A new plate and owner through the API: the card shows both histories.
    version = c.get(f"/api/v1/crm/vehicles/{ids['car']}").get_json()["version"]
    r = c.patch(f"/api/v1/crm/vehicles/{ids['car']}", json={"plate": "В456ОР99", "client_id": son_id,
                                                             "version": version})
    assert r.status_code == 200, r.get_json()
    card = f"/crm/vehicles/{ids['car']}"
    page = c.get(card).get_data(as_text=True)
    token = _csrf(page)
    old = (shop_today() - timedelta(days=30)).isoformat()
    r = c.post(f"{card}/odometer", data={"csrf_token": token, "value": "10 000", "read_on": old, "source": "intake",
                                         "next": card})
    assert r.status_code == 303
    # Lower than a month ago: saved, shown flagged with the reason (never dropped).
    r = c.post(f"{card}/odometer", data={"csrf_token": token, "value": "9000", "source": "client", "next": card})
    assert r.status_code == 303
    r = c.post(f"{card}/odometer", data={"csrf_token": token, "value": "lots", "next": card})
    assert r.status_code == 422 and "Mileage: Not a valid integer." in r.get_data(as_text=True)
    r = c.post(f"{card}/drivers", data={"csrf_token": token, "client_id": ids["client"], "note": "father",
                                        "next": card})
    assert r.status_code == 303
    r = c.post(f"{card}/drivers", data={"csrf_token": token, "client_id": "999999", "next": card})
    assert r.status_code == 422 and "There is no client #999999." in r.get_data(as_text=True)
    page = c.get(card).get_data(as_text=True)
    readings = page[page.index("crm-readings"):]
    assert "10,000" in readings and "Intake" in readings
    flagged = re.search(r'<tr class="crm-reading--flagged">(.*?)</tr>', readings, re.S).group(1)
    assert "9,000" in flagged and "Flagged" in flagged and "cannot go back" in flagged
    owners = page[page.index("crm-owners"):]
    assert owners.index("Ivan Petrov") < owners.index("Petr Petrov") and "A123BC77" in owners and "B456OP99" in owners
    drivers = page[page.index("crm-drivers"):page.index("crm-owners")]
    assert "Ivan Petrov" in drivers and "(father)" in drivers
    # The service book shows the same panels and its forms come back to it.
    book = c.get(f"{card}/history").get_data(as_text=True)
    assert "crm-reading--flagged" in book and "Replace the brake pads" in book and "(father)" in book
    r = c.post(f"{card}/drivers/{ids['client']}/remove", data={"csrf_token": token, "next": f"{card}/history"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/history")
    assert "(father)" not in c.get(card).get_data(as_text=True)
    assert c.get(f"/api/v1/crm/vehicles/{ids['car']}/history").get_json()["readings"][0]["flagged"] is True


def test_recommendations_are_decided_on_the_card_and_listed(crm, user, api_client):
    ids = _make(crm)
    c = crm.client
    card = f"/crm/vehicles/{ids['car']}"
    token = _csrf(c.get(card).get_data(as_text=True))
    r = c.post(f"/crm/recommendations/{ids['rec']}/decide", data={"csrf_token": token, "state": "declined",
                                                                   "next": card})
    assert r.status_code == 303 and r.headers["Location"].endswith(card)
    row = re.search(r'data-rec-id="%s">(.*?)</tr>' % ids["rec"], c.get(card).get_data(as_text=True), re.S).group(1)
    assert f"Declined {shop_today().isoformat()}" in row  # a decline stays, with its date
    listed = c.get("/crm/recommendations").get_data(as_text=True)
    assert "Replace the brake pads" in listed and "Ivan Petrov" in listed and "A123BC77 Kia Rio" in listed
    assert 'href="/crm/recommendations/new"' in listed
    assert "Replace the brake pads" not in c.get("/crm/recommendations?state=open").get_data(as_text=True)
    # The menu leads to the list.
    assert 'href="/crm/recommendations"' in c.get("/crm/search").get_data(as_text=True)
    r = c.post(f"/crm/recommendations/{ids['rec']}/decide", data={"csrf_token": token, "state": "accepted"})
    assert r.status_code == 303
    assert "Replace the brake pads" not in c.get("/crm/recommendations").get_data(as_text=True)
    r = c.post(f"/crm/recommendations/{ids['rec']}/decide", data={"csrf_token": token, "state": "declined"})
    assert "cannot become declined" in c.get(r.headers["Location"]).get_data(as_text=True)
    reader = api_client(user(role="technician", tenant=crm.tenant))
    assert reader.post(f"/crm/recommendations/{ids['rec']}/decide", data={"csrf_token": token, "state": "open"}
                       ).status_code in (400, 403)


def test_search_results_lead_to_the_cards_with_open_recommendations(crm):
    ids = _make(crm)
    html = crm.client.get("/crm/search?q=A123").get_data(as_text=True)
    assert f'href="/crm/vehicles/{ids["car"]}" class="crm-result-car"' in html
    assert f'href="/crm/clients/{ids["client"]}" class="crm-result-client"' in html
    assert "Open recommendations: 1" in html and "Last visit" in html
    by_name = crm.client.get("/crm/search?q=Petrov").get_data(as_text=True)
    assert f'href="/crm/clients/{ids["client"]}"' in by_name and "Open recommendations: 1" in by_name


def _post_new(c, resource, data):
    page = c.get(f"/crm/{resource}/new").get_data(as_text=True)
    return page, c.post(f"/crm/{resource}/new", data={"csrf_token": _csrf(page), **data})


def test_duplicates_link_to_the_existing_record_and_can_be_saved_anyway(crm):
    ids = _make(crm)
    c = crm.client
    page, r = _post_new(c, "clients", {"name": "Ivan P.", "kind": "person", "phones": "8 916 123 45 67"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and f"/api/v1/crm/clients/{ids['client']}" not in html
    assert f'Already on file: <a href="/crm/clients/{ids["client"]}">Ivan Petrov</a>' in html
    assert "Save even if the phone is already on file" in page
    for data, message in (({"vin": VIN.lower()}, "This VIN is already on file"),
                          ({"plate": "a123bc77"}, "This plate is already on file")):
        _page, r = _post_new(c, "vehicles", {**data, "make": "Kia", "odometer_unit": "km"})
        html = r.get_data(as_text=True)
        assert r.status_code == 422 and message in html and "/api/v1/crm/vehicles/" not in html
        assert f'Already on file: <a href="/crm/vehicles/{ids["car"]}">A123BC77</a>' in html
    _page, r = _post_new(c, "vehicles", {"plate": "a123bc77", "make": "Kia", "odometer_unit": "km",
                                          "allow_duplicate": "1"})
    assert r.status_code == 302  # a reissued plate: saved on purpose
    # In Russian the warning and the checkbox speak Russian.
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    page, r = _post_new(c, "clients", {"name": "Иван П.", "kind": "person", "phones": "89161234567"})
    html = r.get_data(as_text=True)
    assert "Уже есть в базе" in html and "Сохранить, даже если телефон уже есть в базе" in page


def test_forms_speak_russian_and_show_value_labels(crm):
    ids = _make(crm)
    c = crm.client
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    vehicle_form = c.get("/crm/vehicles/new").get_data(as_text=True)
    for label in ("Владелец", "Госномер", "Марка", "Модель", "Топливо", "Бензин", "Заметки"):
        assert label in vehicle_form, label
    client_form = c.get("/crm/clients/new").get_data(as_text=True)
    for label in ("Имя", "Частное лицо или компания", "Компания", "Согласие на SMS", "Банк"):
        assert label in client_form, label
    rec_form = c.get(f"/crm/recommendations/new?vehicle_id={ids['car']}").get_data(as_text=True)
    assert "Срочность" in rec_form and "Высокая" in rec_form and "Осмотр" in rec_form
    card = c.get(f"/crm/recommendations/{ids['rec']}").get_data(as_text=True)
    assert "Высокая" in card and "Осмотр" not in card and "Визит" in card  # stored "high"/"visit", translated
    vehicle_card = c.get(f"/crm/vehicles/{ids['car']}").get_data(as_text=True)
    assert "Открыто" in vehicle_card and "Отказ клиента" not in vehicle_card
    entry_form = c.get("/crm/service-entries/new").get_data(as_text=True)
    assert "Заменённые запчасти" in entry_form and "<textarea" in entry_form
    book = c.get(f"/crm/vehicles/{ids['car']}/history").get_data(as_text=True)
    assert "Высокая" in book and ">high<" not in book


def test_new_forms_take_initial_values_and_entries_take_parts(crm):
    from plugins.crm.models import Client

    ids = _make(crm)
    c = crm.client
    form = c.get(f"/crm/recommendations/new?vehicle_id={ids['car']}&urgency=critical&nonsense=1").get_data(as_text=True)
    assert re.search(r'<option value="%s" selected>' % ids["car"], form)
    assert '<option value="critical" selected>' in form
    page = c.get(f"/crm/service-entries/new?vehicle_id={ids['car']}").get_data(as_text=True)
    r = c.post("/crm/service-entries/new", data={
        "csrf_token": _csrf(page), "vehicle_id": ids["car"], "performed_on": shop_today().isoformat(),
        "description": "Oil change elsewhere", "parts": "Filter, oil\r\nOil 5W-30 4 l\r\n\r\n"})
    assert r.status_code == 302, r.get_data(as_text=True)[:800]
    entry_url = r.headers["Location"]
    book = c.get(f"/crm/vehicles/{ids['car']}/history").get_data(as_text=True)
    assert "Filter, oil; Oil 5W-30 4 l" in book
    edit = c.get(entry_url + "/edit").get_data(as_text=True)
    assert ">Filter, oil\nOil 5W-30 4 l</textarea>" in edit
    # Above 200 clients the owner is an id input that the search picker enhances; ?client_id= fills it.
    with crm.ctx() as s:
        s.add_all([Client(name=f"Client {i:03d}") for i in range(200)])
    form = c.get(f"/crm/vehicles/new?client_id={ids['client']}").get_data(as_text=True)
    assert re.search(r'<input type="text" id="f-client_id" name="client_id" value="%s"' % ids["client"], form)
    assert "input[name=client_id]" in form and "/api/v1/crm/search" in form
    bad = c.post("/crm/vehicles/new", data={"csrf_token": _csrf(form), "client_id": "999999", "make": "Kia",
                                           "odometer_unit": "km"})
    assert bad.status_code == 422 and "There is no client #999999." in bad.get_data(as_text=True)


def test_messages_templates_and_intervals_speak_russian(crm, tenant, user, api_client):
    shop = tenant(tier="master")
    _make(crm, shop)
    c = api_client(user(role="owner", tenant=shop))
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    outbox = c.get("/crm/messages").get_data(as_text=True)
    assert '<td class="crm-message-status">Отправлено' in outbox and "<td>SMS +79161234567</td>" in outbox
    assert ">Ждёт подтверждения</option>" in outbox and ">draft<" not in outbox
    template_form = c.get("/crm/message-templates/new").get_data(as_text=True)
    for label in ("Событие", "Запись подтверждена", "Канал", "Режим", "Сначала спросить пользователя", "Условие"):
        assert label in template_form, label
    interval_form = c.get("/crm/service-intervals/new").get_data(as_text=True)
    for label in ("Код", "Каждые, км", "Каждые, месяцев", "Ключевые слова"):
        assert label in interval_form, label
    page = c.get("/crm/service-intervals/new").get_data(as_text=True)
    r = c.post("/crm/service-intervals/new", data={"csrf_token": _csrf(page), "code": "cabin_filter",
                                                   "title": "Салонный фильтр", "every_km": "15000",
                                                   "keywords": "салонный, cabin", "active": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    assert "салонный, cabin" in c.get(r.headers["Location"]).get_data(as_text=True)
    due = c.get("/crm/reminders").get_data(as_text=True)
    assert '<option value="cabin_filter" >Салонный фильтр</option>' in due


def test_sent_mailings_show_channel_and_status_by_name(crm, tenant, user, api_client):
    from plugins.crm.mailings import Mailing

    shop = tenant(tier="profi")
    with crm.ctx(shop) as s:
        s.add(Mailing(key="k1", segment_name="Kia owners", channel="email", status="sent", recipients=3))
    c = api_client(user(role="owner", tenant=shop))
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    row = re.search(r"<tr><td>[^<]*</td><td>Kia owners</td>(.*?)</tr>", c.get("/crm/mailings").get_data(as_text=True),
                    re.S).group(1)
    assert "<td>E-mail</td>" in row and "<td>Отправлено</td>" in row and ">sent<" not in row


def _statements(c, url) -> int:
    """SQL statements one page load runs."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    count = [0]

    def tick(*args):
        count[0] += 1

    event.listen(Engine, "before_cursor_execute", tick)
    try:
        assert c.get(url).status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", tick)
    return count[0]


def test_cards_load_each_list_in_one_query(crm, tenant, user, api_client):
    """A client with six cars (readings, drivers, recommendations, messages) costs the same number of
    statements as a client with one: no query per row."""
    from datetime import date, timedelta

    from plugins.crm.messages import Message
    from plugins.crm.models import Client, OdometerReading, Recommendation, Vehicle, VehicleDriver

    shop = tenant(tier="master")
    c = api_client(user(role="service_advisor", tenant=shop))

    def client_with(n):
        with crm.ctx(shop) as s:
            owner = Client(name=f"Owner of {n}")
            s.add(owner)
            s.flush()
            cars = [Vehicle(client_id=owner.id, plate=f"А{n}{i:02d}ВС77", make="Kia") for i in range(n)]
            s.add_all(cars)
            s.flush()
            for i, car in enumerate(cars):
                s.add_all([Recommendation(vehicle_id=car.id, text=f"Job {i}"),
                           VehicleDriver(vehicle_id=car.id, client_id=owner.id),
                           Message(client_id=owner.id, event="reminder_due", channel="sms", recipient="",
                                   body="Hi", status="sent", idempotency_key=f"{n}-{i}")])
                s.add_all([OdometerReading(vehicle_id=car.id, read_on=shop_today() - timedelta(days=30 * k),
                                           value=50_000 - 1000 * k) for k in range(n)])
            return owner.id, cars[0].id

    one_client, one_car = client_with(1)
    six_client, six_car = client_with(6)
    assert _statements(c, f"/crm/clients/{six_client}") == _statements(c, f"/crm/clients/{one_client}")
    assert _statements(c, f"/crm/vehicles/{six_car}") == _statements(c, f"/crm/vehicles/{one_car}")
    assert _statements(c, f"/crm/vehicles/{six_car}/history") == _statements(c, f"/crm/vehicles/{one_car}/history")
    assert _statements(c, "/crm/search?q=Owner") <= _statements(c, "/crm/search?q=Owner of 1") + 2
    assert _statements(c, "/crm/recommendations") == _statements(c, "/crm/recommendations?urgency=high")
