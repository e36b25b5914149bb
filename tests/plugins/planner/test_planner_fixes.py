"""Fixes of the planner's pages and rules: split shifts kept by the hours form, settings the page does
not show kept, multi-bay bookings editable after a downgrade, a car of another client refused, a CRM
client removable in the form, the booking source in the form, translated bay types and weekdays."""
from __future__ import annotations

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

MONDAY = "2030-03-25"


def _bookings(in_tenant, s):
    from plugins.planner.models import Booking

    with in_tenant(s) as session:
        rows = session.scalars(select(Booking).order_by(Booking.id)).all()
        session.expunge_all()
        return rows


def test_saving_hours_keeps_and_edits_split_shifts(app, shop, ui, csrf, in_tenant, set_hours):
    from datetime import time

    from plugins.planner.models import WorkingHours

    s = shop(tier="free")
    with in_tenant(s) as session:  # Monday: 09-13 and 14-18 (a split shift)
        for row in session.scalars(select(WorkingHours).where(WorkingHours.weekday == 0)):
            session.delete(row)
        session.add_all([WorkingHours(weekday=0, opens=time(9), closes=time(13)),
                         WorkingHours(weekday=0, opens=time(14), closes=time(18))])
        session.commit()
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    assert 'name="opens_0" aria-label="Monday: opens" value="14:00"' in html  # the second span shows
    # Post the page back as it is, plus an evening span on Tuesday and the first Monday span removed.
    form = [("csrf_token", csrf(html)), ("opens_0", ""), ("closes_0", ""), ("opens_0", "14:00"), ("closes_0", "18:00"),
            ("opens_1", "09:00"), ("closes_1", "12:00"), ("opens_1", "15:00"), ("closes_1", "20:00")]
    r = page.post("/planner/settings/hours", data=MultiDict(form))
    assert r.status_code == 302
    with in_tenant(s) as session:
        rows = session.execute(select(WorkingHours.weekday, WorkingHours.opens, WorkingHours.closes)
                               .where(WorkingHours.bay_id.is_(None)).order_by(WorkingHours.weekday,
                                                                             WorkingHours.opens)).all()
    assert [(wd, o.hour, c.hour) for wd, o, c in rows] == [(0, 14, 18), (1, 9, 12), (1, 15, 20)]
    # Overlapping spans of one day are refused next to the day, nothing is changed.
    bad = page.post("/planner/settings/hours", data=MultiDict([("csrf_token", csrf(html)), ("opens_2", "09:00"),
                     ("closes_2", "13:00"), ("opens_2", "12:00"), ("closes_2", "18:00")]))
    assert bad.status_code == 422 and 'id="hours_2-err"' in bad.get_data(as_text=True)
    with in_tenant(s) as session:
        assert session.scalar(select(WorkingHours.id).where(WorkingHours.weekday == 2)) is None


def test_settings_page_without_online_booking_keeps_the_online_settings(app, shop, ui, csrf, in_tenant):
    from core.models import Tenant, TenantFeature
    from plugins.planner.settings import load_settings

    s = shop(tier="free")
    with in_tenant(s) as session:
        tenant = session.get(Tenant, s.id)
        tenant.plugin_settings = {"planner": {"online_enabled": True, "online_services": ["Oil", "Tyres"]}}
        session.add(TenantFeature(tenant_id=s.id, feature="planner.online_booking", granted=False))
        session.commit()
    page = ui(s)
    html = page.get("/planner/settings").get_data(as_text=True)
    assert 'name="online_services"' not in html
    r = page.post("/planner/settings", data={"csrf_token": csrf(html), "slot_minutes": "15"})
    assert r.status_code == 302
    with in_tenant(s) as session:
        stored = load_settings(session.get(Tenant, s.id))
    assert (stored["slot_minutes"], stored["online_enabled"], stored["online_services"]) == (15, True, ["Oil", "Tyres"])
