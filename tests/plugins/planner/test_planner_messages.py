"""Confirmation messages through the CRM: a booking made confirmed by the staff queues the CRM's
"booking confirmed" message at once; an online booking from a phone the directory knows is linked to
that client and gets the message when reception confirms it."""
from __future__ import annotations

from sqlalchemy import select

from tests.plugins.planner.test_planner_public import _anonymous, _form, _frozen_today, _page, online_days  # noqa: F401

MONDAY = "2030-03-25"


def _crm_client(client, name="Ivan Petrov", phone="+7 903 555-12-34"):
    r = client.post("/api/v1/crm/clients", json={"name": name, "phones": [phone], "consent_sms": True})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _messages(client, client_id):
    r = client.get(f"/api/v1/crm/clients/{client_id}/messages")
    assert r.status_code == 200, r.json
    return [(m["event"], m["status"]) for m in r.json["results"]]


def test_a_booking_made_confirmed_by_the_staff_queues_the_confirmation(app, shop, api, book):
    s = shop(tier="master")
    client = api(s)
    ivan = _crm_client(client)
    requested = book(client, s.bays["Lift 1"], f"{MONDAY}T10:00", client_id=ivan, status="requested")
    assert requested.status_code == 201
    assert _messages(client, ivan) == []  # nothing to confirm yet
    confirmed = book(client, s.bays["Lift 2"], f"{MONDAY}T10:00", client_id=ivan)
    assert confirmed.status_code == 201 and confirmed.json["status"] == "confirmed"
    assert _messages(client, ivan) == [("booking_confirmed", "queued")]


def test_an_online_booking_from_a_known_phone_is_linked_and_confirmed_by_message(app, online_days, api, csrf,
                                                                                 in_tenant):
    from plugins.planner.models import Booking

    s = online_days(tier="master", bays=(("Lift 1", "lift"),))
    staff = api(s)
    ivan = _crm_client(staff, phone="8 (903) 555-12-34")  # typed differently on the page
    anonymous = _anonymous(app)
    html = _page(anonymous, s.slug).get_data(as_text=True)
    r = anonymous.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:00+03:00"))
    assert r.status_code == 200, r.get_data(as_text=True)
    with in_tenant(s) as session:
        booking = session.scalars(select(Booking)).one()
        booking_id, linked, name = booking.id, booking.client_id, booking.client_name
    assert (linked, name) == (ivan, "Anna")  # linked; the name typed on the page is kept
    assert _messages(staff, ivan) == []  # requested: reception confirms first
    assert staff.post(f"/api/v1/planner/bookings/{booking_id}/confirm").status_code == 200
    assert _messages(staff, ivan) == [("booking_confirmed", "queued")]
    # An unknown phone stays free text: no client is made from the public page.
    html = _page(anonymous, s.slug).get_data(as_text=True)
    other = anonymous.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T10:00+03:00",
                                                                 phone="+7 926 000-11-22"))
    assert other.status_code == 200
    from plugins.crm.models import Client

    with in_tenant(s) as session:
        assert session.scalars(select(Booking.client_id).order_by(Booking.id)).all() == [ivan, None]
        assert session.scalars(select(Client.id)).all() == [ivan]


def test_hook_planner_client_by_phone(app, shop, api, in_tenant):
    from plugins.planner import service

    s = shop(tier="basic")
    ivan = _crm_client(api(s), phone="+7 916 123-45-67")
    with in_tenant(s):
        hooks = service.tenant_hooks()
        assert hooks.planner_client_by_phone(phone="8 916 123 45 67") == {"client_id": ivan}
        assert hooks.planner_client_by_phone(phone="+7 916 000-00-00") is None
        assert hooks.planner_client_by_phone(phone="not a phone") is None
    free = shop(tier="free")  # no client directory: nobody answers
    with in_tenant(free):
        assert service.tenant_hooks().planner_client_by_phone(phone="+7 916 123-45-67") is None
