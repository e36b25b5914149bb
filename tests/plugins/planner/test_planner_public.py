"""The public online booking page (no login) and the calendar feeds: CSRF, honeypot, rate limits, no
double booking, tenant from the URL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

MONDAY = "2030-03-25"


def _anonymous(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def _page(client, slug, day=MONDAY):
    r = client.get(f"/planner/book/{slug}?day={day}")
    return r


def _form(csrf, html, start, **extra):
    return {"csrf_token": csrf(html), "name": "Anna", "phone": "+7 903 555-12-34", "vehicle": "VW Polo",
            "reason": "Brakes squeak", "start": start, "day": MONDAY, **extra}


def _bookings(in_tenant, s):
    from plugins.planner.models import Booking

    with in_tenant(s) as session:
        return session.scalars(select(Booking).order_by(Booking.id)).all()


@pytest.fixture
def online_days(app, shop):
    """Shops whose page shows days up to 2030 (the tests book in 2030)."""
    from core.db import db
    from core.models import Tenant

    def make(**kwargs):
        s = shop(**kwargs)
        with app.app_context():
            row = db.session.get(Tenant, s.id)
            row.plugin_settings = {"planner": {"online_days_ahead": 90, "online_name": "Garage 77",
                                               "online_address": "Moscow, Kozhevnicheskaya 14",
                                               "online_services": ["Oil change", "Diagnostics"]}}
            db.session.commit()
        return s

    return make


@pytest.fixture(autouse=True)
def _frozen_today(monkeypatch):
    """The page lists days from today; pin today to the Monday the tests book on."""
    from datetime import datetime, timezone

    import plugins.planner.public as public
    import plugins.planner.service as service

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            value = datetime(2030, 3, 25, 5, 0, tzinfo=timezone.utc)
            return value if tz is None else value.astimezone(tz)

    monkeypatch.setattr(public, "datetime", FrozenDatetime)
    monkeypatch.setattr(service, "datetime", FrozenDatetime)


def test_a_client_books_without_login_and_the_booking_is_requested(app, online_days, csrf, in_tenant):
    s = online_days(tier="free", bays=(("Lift 1", "lift"),))
    anonymous = _anonymous(app)
    page = _page(anonymous, s.slug)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Garage 77" in html and "Kozhevnicheskaya" in html and "Oil change" in html
    assert f'value="{MONDAY}T09:00+03:00"' in html
    r = anonymous.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:00+03:00"))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "25.03.2030 09:00" in r.get_data(as_text=True)
    [booking] = _bookings(in_tenant, s)
    assert (booking.status, booking.source, booking.client_name, booking.bay_id) == (
        "requested", "online", "Anna", s.bays["Lift 1"])
    # The taken time is no longer offered, and posting it anyway does not double-book.
    html = _page(anonymous, s.slug).get_data(as_text=True)
    assert f'value="{MONDAY}T09:00+03:00"' not in html
    again = anonymous.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:00+03:00", name="Bob"))
    assert again.status_code == 409
    assert "no longer free" in again.get_data(as_text=True)
    assert len(_bookings(in_tenant, s)) == 1


def test_the_form_needs_its_csrf_token(app, online_days, in_tenant):
    s = online_days()
    client = _anonymous(app)
    _page(client, s.slug)
    r = client.post(f"/planner/book/{s.slug}", data={"name": "A", "phone": "+79035551234",
                                                     "start": f"{MONDAY}T09:00+03:00"})
    assert r.status_code == 400
    assert _bookings(in_tenant, s) == []


def test_a_filled_honeypot_is_thanked_and_dropped(app, online_days, csrf, in_tenant):
    s = online_days()
    client = _anonymous(app)
    html = _page(client, s.slug).get_data(as_text=True)
    r = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:00+03:00",
                                                          website="http://spam.example"))
    assert r.status_code == 200
    assert _bookings(in_tenant, s) == []


def test_bad_input_is_shown_next_to_the_fields(app, online_days, csrf, in_tenant):
    s = online_days()
    client = _anonymous(app)
    html = _page(client, s.slug).get_data(as_text=True)
    r = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:00+03:00", name="", phone="12"))
    assert r.status_code == 422
    assert _bookings(in_tenant, s) == []
    r = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T09:10+03:00"))  # off the grid
    assert r.status_code == 409


@pytest.fixture
def garage_config():
    return {"RATELIMIT_ENABLED": True, "PLANNER_ONLINE_LIMIT_PHONE": "2 per day",
            "PLANNER_ONLINE_LIMIT_IP": "4 per hour"}


def test_rate_limits_per_phone_and_per_ip(app, online_days, csrf, in_tenant):
    s = online_days()
    client = _anonymous(app)
    html = _page(client, s.slug).get_data(as_text=True)
    ok = [client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T{h}:00+03:00")).status_code
          for h in ("09", "10")]
    assert ok == [200, 200]
    third = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T11:00+03:00"))
    assert third.status_code == 429 and "Too many" in third.get_data(as_text=True)
    # Another phone from the same address: the per-IP allowance (4) runs out after one more.
    other = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T12:00+03:00",
                                                              phone="+7 925 700-80-90"))
    assert other.status_code == 200
    blocked = client.post(f"/planner/book/{s.slug}", data=_form(csrf, html, f"{MONDAY}T13:00+03:00",
                                                                phone="+7 977 321-00-11"))
    assert blocked.status_code == 429
    assert len(_bookings(in_tenant, s)) == 3


def test_unknown_station_and_switched_off_feature_are_404(app, online_days, in_tenant):
    from core.db import db
    from core.models import Tenant
    from core.tenants import set_feature

    s = online_days()
    client = _anonymous(app)
    assert client.get("/planner/book/no-such-shop").status_code == 404
    with app.app_context():
        set_feature(db.session.get(Tenant, s.id), "planner.online_booking", False)
        db.session.commit()
    assert client.get(f"/planner/book/{s.slug}").status_code == 404


def test_a_signed_in_user_of_another_shop_sees_the_station_of_the_url(app, online_days, ui):
    a, b = online_days(), online_days()
    client = ui(a)
    page = client.get(f"/planner/book/{b.slug}?day={MONDAY}")
    assert page.status_code == 200
    assert f'/planner/book/{b.slug}' in page.get_data(as_text=True) or "Garage 77" in page.get_data(as_text=True)


def test_bay_calendar_feed_needs_its_secret(app, shop, api, book, in_tenant):
    from plugins.planner.models import Bay

    s, other = shop(), shop()
    book(api(s), s.bays["Lift 1"], f"{MONDAY}T10:00", client_name="Ivan Petrov")
    with in_tenant(s) as session:
        token = session.scalars(select(Bay.ics_token).where(Bay.id == s.bays["Lift 1"])).one()
    client = _anonymous(app)
    r = client.get(f"/planner/ics/{s.slug}/{s.bays['Lift 1']}/{token}.ics")
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    from icalendar import Calendar

    events = [c for c in Calendar.from_ical(r.data).walk("VEVENT")]
    assert len(events) == 1 and "Ivan Petrov" in str(events[0]["summary"])
    assert events[0].decoded("dtstart").isoformat() == "2030-03-25T07:00:00+00:00"
    assert client.get(f"/planner/ics/{s.slug}/{s.bays['Lift 1']}/wrong.ics").status_code == 404
    assert client.get(f"/planner/ics/{other.slug}/{s.bays['Lift 1']}/{token}.ics").status_code == 404


def test_the_embedded_widget_hands_the_chosen_time_to_the_station_page(app, online_days):
    s = online_days()
    client = _anonymous(app)
    r = client.get(f"/planner/book/{s.slug}?day={MONDAY}&embed=1")
    assert r.status_code == 200
    assert "frame-ancestors *" in r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    assert 'method="post"' not in html  # no cookie-bound form inside a third-party frame
    link = re.search(r'href="([^"]+start=[^"]+)"', html).group(1).replace("&amp;", "&")
    page = client.get(link).get_data(as_text=True)
    assert re.search(r'value="2030-03-25T09:00\+03:00" required checked', page)
