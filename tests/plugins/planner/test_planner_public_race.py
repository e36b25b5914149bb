"""The public booking page under concurrent requests (exactly one booking per slot), and its free
slots keeping the buffer of a planner.advanced shop."""
from __future__ import annotations

import threading

from tests.plugins.planner.test_planner_public import (  # noqa: F401 - fixtures used by name
    MONDAY, _bookings, _form, _frozen_today, _page, online_days)


def _client_from(app, ip: str):
    client = app.test_client()
    client.environ_base.update(HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=ip)
    return client


def test_concurrent_public_bookings_of_one_slot_make_exactly_one(app, online_days, csrf, in_tenant):
    s = online_days(tier="free", bays=(("Lift 1", "lift"),))
    start = f"{MONDAY}T10:00+03:00"
    # Each visitor has opened the page (own session and CSRF token, own IP and phone) before they all send.
    visitors = []
    for n in range(8):
        client = _client_from(app, f"10.0.0.{n + 1}")
        html = _page(client, s.slug).get_data(as_text=True)
        assert f'value="{start}"' in html
        visitors.append((client, _form(csrf, html, start, name=f"Visitor {n}", phone=f"+7 903 555-00-{n:02d}")))
    barrier = threading.Barrier(len(visitors))
    results: list[int] = []
    lock = threading.Lock()

    def send(client, form):
        barrier.wait()
        response = client.post(f"/planner/book/{s.slug}", data=form)
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=send, args=visitor) for visitor in visitors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 7
    [booking] = _bookings(in_tenant, s)
    assert booking.source == "online" and booking.status == "requested"


def test_the_public_page_leaves_the_buffer_free(app, online_days, csrf, in_tenant, set_hours, api, book):
    from core.db import db
    from core.models import Tenant

    s = online_days(tier="specialist", bays=(("Lift 1", "lift"),))
    set_hours(s, {0: ("09:00", "13:00")})
    with app.app_context():
        row = db.session.get(Tenant, s.id)
        row.plugin_settings = {"planner": {**row.plugin_settings["planner"], "buffer_percent": 25}}
        db.session.commit()
    # 4 hours, 1 kept free: after a 2-hour job, one online hour (the default length) still fits...
    assert book(api(s), s.bays["Lift 1"], f"{MONDAY}T09:00", 120).status_code == 201
    visitor = _client_from(app, "10.0.1.1")
    html = _page(visitor, s.slug).get_data(as_text=True)
    assert f'value="{MONDAY}T11:00+03:00"' in html and f'value="{MONDAY}T12:00+03:00"' in html
    assert visitor.post(f"/planner/book/{s.slug}",
                        data=_form(csrf, html, f"{MONDAY}T11:00+03:00")).status_code == 200
    # ...and then none: the last free hour is the buffer.
    html = _page(visitor, s.slug).get_data(as_text=True)
    assert f'value="{MONDAY}T12:00+03:00"' not in html
    late = visitor.post(f"/planner/book/{s.slug}",
                        data=_form(csrf, html, f"{MONDAY}T12:00+03:00", phone="+7 903 555-99-99"))
    assert late.status_code == 409
    assert len(_bookings(in_tenant, s)) == 2
