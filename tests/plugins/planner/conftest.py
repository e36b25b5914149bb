"""Fixtures of the planner's tests: a shop with bays in a chosen tier and time zone, and clients signed
in to it (API by bearer token, UI by session)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

import pytest
from sqlalchemy import select

# A Monday far enough ahead that no slot is "in the past"; Europe/Berlin changes to summer time on
# Sunday 2030-03-31 at 02:00 (-> 03:00).
MONDAY = "2030-03-25"
DST_SUNDAY = "2030-03-31"


@dataclass
class Shop:
    id: int
    slug: str
    tier: str
    bays: dict = field(default_factory=dict)  # name -> id


@pytest.fixture
def in_tenant(app):
    """``with in_tenant(shop): ...``: an app context with the shop's tenant context pushed."""
    from contextlib import contextmanager

    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context

    @contextmanager
    def push(shop):
        with app.app_context():
            with tenant_context(tenant_info(db.session.get(Tenant, shop.id))):
                yield db.session

    return push


@pytest.fixture
def shop(app, tenant, in_tenant):
    """Factory: ``shop(tier="free", tz="Europe/Moscow", bays=(("Lift 1", "lift"), ...))``; default
    hours are the seeded Mon-Fri 9-19, Sat 10-16."""
    from core.db import db
    from core.models import Tenant
    from plugins.planner.models import Bay

    def make(tier: str = "free", tz: str = "Europe/Moscow", bays=(("Lift 1", "lift"), ("Lift 2", "lift"),
                                                                    ("Alignment", "alignment"))) -> Shop:
        t = tenant(tier=tier)
        with app.app_context():
            row = db.session.get(Tenant, t.id)
            row.timezone = tz
            db.session.commit()
        s = Shop(t.id, t.slug, tier)
        with in_tenant(s) as session:
            for position, (name, bay_type) in enumerate(bays):
                bay = Bay(name=name, type=bay_type, position=position)
                session.add(bay)
                session.flush()
                s.bays[name] = bay.id
            session.commit()
        s.handle = t
        return s

    return make


@pytest.fixture
def api(app, user):
    """Factory: ``api(shop, role="owner")`` -> a test client with an API token of a new user."""
    from core.auth.tokens import create_token
    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant, User
    from core.tenancy import tenant_context

    def make(s: Shop, role: str = "owner"):
        u = user(role=role, tenant=s.handle)
        with app.app_context():
            with tenant_context(tenant_info(db.session.get(Tenant, s.id))):
                row = db.session.execute(select(User).where(User.id == u.id)).scalar_one()
                _token, text = create_token(row, "tests")
                db.session.commit()
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {text}"
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"  # the tests read English messages
        client.user = u
        return client

    return make


@pytest.fixture
def ui(app, user, login):
    """Factory: ``ui(shop, role="owner")`` -> a test client signed in (session) as a new user."""

    def make(s: Shop, role: str = "owner"):
        u = user(role=role, tenant=s.handle)
        client = app.test_client()
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        login(client, u)
        client.user = u
        return client

    return make


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def set_hours(app, in_tenant):
    """``set_hours(shop, {weekday: ("09:00", "19:00") or None}, breaks=[("13:00", "14:00")])``."""
    from plugins.planner.models import Break, WorkingHours

    def do(s: Shop, hours: dict, breaks=()):
        with in_tenant(s) as session:
            for wd, span in hours.items():
                for row in session.scalars(select(WorkingHours).where(WorkingHours.weekday == wd,
                                                                      WorkingHours.bay_id.is_(None))):
                    session.delete(row)
                if span:
                    session.add(WorkingHours(weekday=wd, opens=time.fromisoformat(span[0]),
                                             closes=time.fromisoformat(span[1])))
            for starts, ends in breaks:
                session.add(Break(starts=time.fromisoformat(starts), ends=time.fromisoformat(ends)))
            session.commit()

    return do


def _book(client, bay_id, start, minutes=60, **extra):
    body = {"bay_id": bay_id, "start": start, "duration_minutes": minutes, "client_name": "Ivan Petrov",
            "client_phone": "+7 916 123-45-67", "vehicle": "Kia Rio A123BC777", "reason": "Oil change", **extra}
    return client.post("/api/v1/planner/bookings", json=body)


@pytest.fixture
def book():
    """``book(client, bay_id, "2030-03-25T10:00", minutes=60, **fields)`` -> the API response."""
    return _book


@pytest.fixture
def csrf():
    """``csrf(html)`` -> the CSRF token of a rendered form."""
    return _csrf_from


def _race(calls):
    """Run ``calls`` (callables without arguments) at the same moment, one thread each behind a barrier;
    their results in order (None where one raised)."""
    import threading

    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def race():
    """``race([lambda: ..., ...])`` -> the results of the calls made concurrently (see :func:`_race`)."""
    return _race
