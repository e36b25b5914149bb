"""Demo data: bays, hours and a week of bookings that obey the planner's own rules; idempotent."""
from __future__ import annotations

from sqlalchemy import func, select


def test_demo_week_is_realistic_and_idempotent(app, tenant, in_tenant):
    from core.db import db
    from core.models import Tenant
    from core.tenancy import current_tenant
    from plugins.planner import service
    from plugins.planner.models import Bay, Booking, WorkingHours
    from plugins.planner.seed import demo_data

    t = tenant(tier="free")
    with in_tenant(t) as session:
        row = session.get(Tenant, t.id)
        demo_data(row)
        session.commit()
        demo_data(row)  # a second run adds nothing
        session.commit()
        bays = session.scalars(select(Bay).order_by(Bay.position)).all()
        assert [b.name for b in bays][:3] == ["Пост 1 — подъёмник", "Пост 2 — подъёмник", "Развал-схождение"]
        hours = {(h.weekday, h.opens.hour, h.closes.hour) for h in session.scalars(select(WorkingHours))}
        assert (0, 9, 19) in hours and (5, 10, 16) in hours and not any(h[0] == 6 for h in hours)
        bookings = session.scalars(select(Booking)).all()
        assert len(bookings) >= 15
        schedule = service.Schedule.load()
        for bk in bookings:
            assert service.find_conflict(bk.bay_ids, bk.start_at, bk.end_at, exclude_id=bk.id) is None
            day = bk.start_at.astimezone(schedule.tz).date()
            assert any(s <= bk.start_at and bk.end_at <= e for s, e in schedule.open_intervals(day, bk.bay_id))
        assert current_tenant().id == t.id
        assert session.scalar(select(func.count(Booking.id))) == len(bookings)
        db.session.rollback()
