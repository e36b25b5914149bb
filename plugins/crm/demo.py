"""Demo data for ``garage demo``: about 30 Russian clients with their cars, readings and a few
recommendations and service-book entries. Idempotent: a tenant that already has demo clients gets
nothing more."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.db import db

from .clock import local_today
from .models import Client, Recommendation, ServiceEntry, Vehicle
from .normalize import inn_with_check, vin_check_digit

DEMO_SOURCE = "demo"
SURNAMES = ["Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков",
            "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов",
            "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров"]
FIRST = ["Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил"]
PATRONYMIC = ["Александрович", "Дмитриевич", "Сергеевич", "Андреевич", "Игоревич", "Петрович"]
COMPANIES = ["ООО «Ромашка-Логистик»", "ООО «ТрансСервис»", "АО «Северный путь»", "ООО «Город Такси»",
             "ИП Сидоров В. А."]
CARS = [("Lada", "Vesta", "1.6 (21129)", "petrol"), ("Lada", "Granta", "1.6 (11186)", "petrol"),
        ("Kia", "Rio", "1.6 G4FC", "petrol"), ("Hyundai", "Solaris", "1.6 G4FG", "petrol"),
        ("Volkswagen", "Polo", "1.6 CWVA", "petrol"), ("Skoda", "Octavia", "1.4 TSI CZDA", "petrol"),
        ("Toyota", "Camry", "2.5 2AR-FE", "petrol"), ("Renault", "Logan", "1.6 K7M", "petrol"),
        ("Haval", "Jolion", "1.5T GW4B15A", "petrol"), ("Chery", "Tiggo 7 Pro", "1.5T SQRE4T15C", "petrol"),
        ("GAZ", "Gazelle Next", "2.8 Cummins ISF", "diesel"), ("Ford", "Focus", "1.6 PNDA", "petrol")]
COLOURS = ["белый", "серый", "чёрный", "серебристый", "синий", "красный"]
PLATE_LETTERS = "АВЕКМНОРСТУХ"
WMI = {"Lada": "XTA", "Kia": "Z94", "Hyundai": "Z94", "Volkswagen": "XW8", "Skoda": "XW8", "Toyota": "JTN",
       "Renault": "X7L", "Haval": "X9X", "Chery": "LVV", "GAZ": "X96", "Ford": "X9F"}
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def _vin(rnd: random.Random, make: str) -> str:
    body = WMI.get(make, "XTA") + "".join(rnd.choice(VIN_CHARS) for _ in range(14))
    return body[:8] + vin_check_digit(body) + body[9:]


def _plate(rnd: random.Random) -> str:
    l = lambda: rnd.choice(PLATE_LETTERS)  # noqa: E731
    return f"{l()}{rnd.randint(1, 999):03d}{l()}{l()}{rnd.choice(['77', '97', '177', '199', '50', '750', '78'])}"


def add_demo_data(tenant) -> int:
    if db.session.execute(select(Client.id).where(Client.source == DEMO_SOURCE).limit(1)).first():
        return 0
    rnd = random.Random(f"crm-demo-{tenant.slug}")
    today = local_today()
    made = 0
    names = [f"{SURNAMES[i]} {rnd.choice(FIRST)} {rnd.choice(PATRONYMIC)}" for i in range(25)] + COMPANIES
    for i, name in enumerate(names):
        company = i >= 25
        client = Client(kind="company" if company else "person", name=name, source=DEMO_SOURCE,
                        phones=[f"+7 9{rnd.randint(10, 99)} {rnd.randint(100, 999)}-{rnd.randint(10, 99)}-"
                                f"{rnd.randint(10, 99)}"],
                        emails=[f"client{i + 1}@example.ru"] if i % 3 == 0 else [],
                        consent_sms=i % 2 == 0,
                        inn=inn_with_check(f"77{rnd.randint(10_000_000, 99_999_999)}"[:10 if not company else 9])
                        if company or i % 7 == 0 else None)
        if company and name.startswith("ИП"):
            client.inn = inn_with_check(f"7712{rnd.randint(100_000, 999_999)}")
        db.session.add(client)
        db.session.flush()
        for _n in range(3 if company else (2 if i % 6 == 0 else 1)):
            make, model, engine, fuel = rnd.choice(CARS)
            vehicle = Vehicle(client_id=client.id, vin=_vin(rnd, make), plate=_plate(rnd), make=make, model=model,
                              engine=engine, fuel=fuel, year=rnd.randint(2012, today.year),
                              colour=rnd.choice(COLOURS))
            db.session.add(vehicle)
            db.session.flush()
            from .services import add_reading

            km, day = rnd.randint(5_000, 60_000), today - timedelta(days=rnd.randint(500, 900))
            while day < today:
                add_reading(vehicle, km, day, source=rnd.choice(["intake", "work_order"]))
                if rnd.random() < 0.5:
                    db.session.add(ServiceEntry(vehicle_id=vehicle.id, performed_on=day, mileage=km,
                                                description=rnd.choice(["Замена масла и фильтров", "ТО-2",
                                                                        "Замена тормозных колодок", "Шиномонтаж"]),
                                                parts=rnd.choice([["Масло 5W-30 4 л", "Фильтр масляный"],
                                                                  ["Колодки передние"], []]),
                                                performed_by=rnd.choice(["Другой сервис", "Дилер"]),
                                                amount=Decimal(rnd.randint(20, 250) * 100)))
                day += timedelta(days=rnd.randint(90, 200))
                km += rnd.randint(3_000, 12_000)
            if rnd.random() < 0.4:
                db.session.add(Recommendation(vehicle_id=vehicle.id, urgency=rnd.choice(["normal", "high"]),
                                              source="inspection",
                                              text=rnd.choice(["Заменить передние тормозные диски (износ 80%)",
                                                               "Заменить ремень ГРМ", "Развал-схождение",
                                                               "Заменить амортизаторы задние"])))
            made += 1
    db.session.flush()
    return made
