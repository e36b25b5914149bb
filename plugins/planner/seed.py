"""Seed data: default working hours for a new planner tenant, and the demo shop's week."""
from __future__ import annotations

import random
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from core.db import db

from .models import Bay, Booking, Break, WorkingHours

DEFAULT_HOURS = {0: (time(9), time(19)), 1: (time(9), time(19)), 2: (time(9), time(19)), 3: (time(9), time(19)),
                 4: (time(9), time(19)), 5: (time(10), time(16))}


def seed_working_hours() -> None:
    """Mon-Fri 9-19, Sat 10-16, Sunday closed: only when the shop has no hours yet (idempotent, and a
    downgrade/upgrade keeps the shop's own hours)."""
    if db.session.scalar(select(WorkingHours.id).limit(1)) is not None:
        return
    for weekday, (opens, closes) in DEFAULT_HOURS.items():
        db.session.add(WorkingHours(weekday=weekday, opens=opens, closes=closes))
    db.session.flush()


DEMO_BAYS = (
    ("Пост 1 — подъёмник", "lift"),
    ("Пост 2 — подъёмник", "lift"),
    ("Развал-схождение", "alignment"),
    ("Диагностика", "diagnostics"),
    ("Кузовной участок", "body"),
)

DEMO_VISITS = (
    ("Замена масла и фильтров", 60, "lift"),
    ("Замена тормозных колодок", 90, "lift"),
    ("Стук в подвеске", 120, "lift"),
    ("Развал-схождение после замены шин", 60, "alignment"),
    ("Горит Check Engine", 60, "diagnostics"),
    ("Компьютерная диагностика перед покупкой", 90, "diagnostics"),
    ("Замена ремня ГРМ", 180, "lift"),
    ("Покраска бампера", 240, "body"),
    ("Сезонная замена шин", 60, "lift"),
    ("Не заводится в мороз", 120, "diagnostics"),
)
DEMO_CLIENTS = (
    ("Иван Петров", "+7 916 123-45-67", "Kia Rio, А123ВС777"),
    ("Мария Соколова", "+7 903 555-12-34", "Hyundai Solaris, В456ОР799"),
    ("Сергей Кузнецов", "+7 925 700-80-90", "Lada Vesta, Е789КХ750"),
    ("Анна Морозова", "+7 977 321-00-11", "Volkswagen Polo, М012НО177"),
    ("Дмитрий Волков", "+7 985 444-22-33", "Toyota Camry, Н345РС197"),
    ("Ольга Лебедева", "+7 926 987-65-43", "Skoda Octavia, О678ТУ777"),
    ("Алексей Новиков", "+7 915 246-80-24", "Renault Logan, Р901УХ750"),
    ("Елена Козлова", "+7 999 135-79-13", "Nissan Qashqai, С234АВ799"),
)


def demo_data(tenant) -> None:
    """Bays, hours (Mon-Fri 9-19 with lunch, Sat 10-16) and a week of bookings from today. Idempotent:
    a shop that already has bays gets nothing."""
    from . import service

    if db.session.scalar(select(Bay.id).limit(1)) is not None:
        link_demo_bookings()  # a demo made before the link existed gets it on the next run
        return
    seed_working_hours()
    if db.session.scalar(select(Break.id).limit(1)) is None:
        db.session.add(Break(weekday=None, starts=time(13), ends=time(14), title="Обед"))
    bays = []
    for position, (name, bay_type) in enumerate(DEMO_BAYS):
        bay = Bay(name=name, type=bay_type, position=position)
        db.session.add(bay)
        bays.append(bay)
    db.session.flush()
    rng = random.Random(tenant.id)  # the same shop gets the same week
    tz = service.tenant_zone(tenant)
    today = datetime.now(timezone.utc).astimezone(tz).date()
    schedule = service.Schedule.load(tz)
    by_type: dict[str, list[Bay]] = {}
    for bay in bays:
        by_type.setdefault(bay.type, []).append(bay)
    busy: dict[int, list[tuple[datetime, datetime]]] = {b.id: [] for b in bays}
    car_busy: dict[str, list[tuple[datetime, datetime]]] = {car: [] for _n, _p, car in DEMO_CLIENTS}
    for offset in range(7):
        day = today + timedelta(days=offset)
        for _n in range(rng.randint(5, 9)):
            reason, minutes, bay_type = rng.choice(DEMO_VISITS)
            name, phone, car = rng.choice(DEMO_CLIENTS)
            bay = rng.choice(by_type[bay_type])
            for open_start, open_end in schedule.open_intervals(day, bay.id):
                start = open_start
                while start + timedelta(minutes=minutes) <= open_end:
                    end = start + timedelta(minutes=minutes)
                    # One car is never on two bays at once (the planner refuses it for directory cars).
                    if not any(s < end and start < e for s, e in busy[bay.id] + car_busy[car]):
                        break
                    start += timedelta(minutes=30)
                else:
                    continue
                busy[bay.id].append((start, end))
                car_busy[car].append((start, end))
                status = "arrived" if offset == 0 and start < datetime.now(timezone.utc) else (
                    "requested" if rng.random() < 0.2 else "confirmed")
                db.session.add(Booking(bay_id=bay.id, start_at=start, end_at=end, duration_minutes=minutes,
                                       client_name=name, client_phone=phone, vehicle=car, reason=reason,
                                       planned_jobs=[reason], status=status,
                                       source=rng.choice(("phone", "phone", "walk_in", "online"))))
                break
    db.session.flush()
    link_demo_bookings()


def link_demo_bookings() -> int:
    """With a client directory (the CRM answers ``planner_client_from_booking``): the demo's clients and
    cars are found or added there and the demo bookings typed with them are linked, so "Open a service
    order" works on them and the car's plate finds its client. Idempotent; returns the bookings linked."""
    from . import service

    if not service.can_link_directory():
        return 0
    linked = 0
    for name, phone, car in DEMO_CLIENTS:
        wanted = select(Booking).where(Booking.client_name == name, Booking.client_phone == phone,
                                       Booking.vehicle == car, Booking.client_id.is_(None))
        bookings = list(db.session.scalars(wanted))
        if not bookings:
            continue
        found = service.directory_match({"name": name, "phone": phone}, service.vehicle_parts(car), create=True)
        if not found or not found.get("client_id") or not found.get("vehicle_id"):
            continue
        for booking in bookings:
            booking.client_id, booking.vehicle_id = found["client_id"], found["vehicle_id"]
            linked += 1
    db.session.flush()
    return linked
