"""Demo data for ``garage demo``: a job catalog and a few realistic orders on the CRM's demo cars:
two closed visits (in the cars' service books), one in progress with an insurer paying part, one car
just received. Idempotent: a tenant that has demo jobs already gets nothing more."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from core.db import db
from core.documents import create_document, transition
from core.models import utcnow

from . import services
from .models import Job, ServiceOrder, WorkOrder

DEMO_CODE = "DEMO-"
JOBS = [  # code, name, standard hours, fixed price
    ("ENG-OIL", "Замена масла ДВС и масляного фильтра", "0.5", None),
    ("BRK-PAD-F", "Замена колодок тормозных передних", "0.8", None),
    ("BRK-DISC-F", "Замена дисков тормозных передних", "1.4", None),
    ("SUS-DIAG", "Диагностика подвески", "0.5", "800.00"),
    ("ALIGN", "Регулировка развала-схождения", "1.0", "2500.00"),
    ("TIMING", "Замена ремня ГРМ с роликами", "3.2", None),
    ("SPARK", "Замена свечей зажигания", "0.6", None),
    ("AC-FILL", "Заправка кондиционера", "0.7", "2800.00"),
]
RATE = Decimal("2200.00")


def add_demo_data(tenant) -> int:
    _shop_setup(tenant)
    if db.session.execute(select(Job.id).where(Job.code.like(f"{DEMO_CODE}%")).limit(1)).first():
        return 0
    # The orders need the CRM's demo cars. The core may call the plugins' demo_data in any order, and
    # the CRM's is idempotent: make sure it has run (when it runs again it adds nothing).
    from plugins.crm.demo import add_demo_data as crm_demo_data

    crm_demo_data(tenant)
    jobs = {}
    for code, name, hours, price in JOBS:
        job = Job(code=DEMO_CODE + code, name=name, standard_hours=Decimal(hours),
                  fixed_price=Decimal(price) if price else None, category="demo")
        db.session.add(job)
        jobs[code] = job
    db.session.flush()
    from plugins.crm.models import Client, Vehicle

    cars = db.session.execute(select(Vehicle).join(Client, Client.id == Vehicle.client_id)
                              .where(Client.source == "demo").order_by(Vehicle.id).limit(4)).scalars().all()
    insurer = db.session.execute(select(Client).where(Client.is_insurer.is_(True)).limit(1)).scalar_one_or_none()
    if insurer is None:
        insurer = Client(kind="company", name="СПАО «Ингосстрах» (демо)", is_client=False, is_insurer=True,
                         source="demo")
        db.session.add(insurer)
        db.session.flush()
    plans = [
        ("closed", ["ENG-OIL", "SPARK"], [("Масло моторное 5W-30", "4.5", "л", "890.00"),
                                          ("Фильтр масляный", "1", "шт", "520.00")]),
        ("closed", ["BRK-PAD-F", "SUS-DIAG"], [("Колодки тормозные передние", "1", "компл", "3400.00")]),
        ("in_progress", ["ALIGN", "BRK-DISC-F"], [("Диск тормозной передний", "2", "шт", "4150.00")]),
        ("received", [], []),
    ]
    made = 0
    for car, (state, job_codes, parts) in zip(cars, plans):
        made += _order(car, state, [jobs[c] for c in job_codes], parts, insurer if state == "in_progress" else None)
    return made


def _shop_setup(tenant) -> None:
    """What a shop sets up before its first order, each part once (also on a demo made before it was
    added): the shop's labour rate (else every job line without a fixed price bills 0), and an
    employee card for each technician user (else no job can be given to him)."""
    from core.models import Role, User
    from core.tenancy import current_tenant

    from .norms import LaborRate
    from .staff import Employee

    if db.session.execute(select(LaborRate.id).where(LaborRate.category.is_(None)).limit(1)).first() is None:
        db.session.add(LaborRate(category=None, rate=RATE))
    if current_tenant().has("workshop.staff"):
        linked = set(db.session.scalars(select(Employee.user_id).where(Employee.user_id.is_not(None))))
        for user in db.session.scalars(select(User).join(Role, Role.id == User.role_id)
                                       .where(Role.key == "technician").order_by(User.id)):
            if user.id not in linked:
                db.session.add(Employee(user_id=user.id, name=user.name or user.email, position="Автомеханик",
                                        skills=["ТО", "тормоза", "подвеска"], hourly_cost=Decimal("450.00"),
                                        piece_rate_percent=Decimal("40")))
    db.session.flush()


def _order(car, state: str, jobs: list, parts: list, insurer) -> int:
    from plugins.crm.services import mileage

    from core.models import Role, User

    last = mileage(car.id).last_value or 30000
    # The shop's service advisor received the car (the owner, where the tier has no staff roles).
    advisor_id = db.session.scalars(select(User.id).join(Role, Role.id == User.role_id).where(
        Role.key.in_(("service_advisor", "owner"))).order_by(Role.key != "service_advisor", User.id)).first()
    so = create_document(ServiceOrder, None, commit=False, client_id=car.client_id, vehicle_id=car.id,
                         advisor_id=advisor_id,
                         odometer=last + 1200, fuel_level=50, complaint="Плановое ТО, посторонний шум при торможении",
                         condition_notes="Царапина на заднем бампере", planned_jobs=", ".join(j.name for j in jobs),
                         promised_at=utcnow() + timedelta(hours=6))
    transition(so, "accept", None, commit=False)
    if state == "received":
        return 1
    wo = create_document(WorkOrder, None, commit=False, service_order_id=so.id, client_id=car.client_id,
                         vehicle_id=car.id, advisor_id=so.advisor_id, odometer=so.odometer, complaint=so.complaint)
    from .staff import Employee

    technician = db.session.scalars(select(Employee).where(Employee.active.is_(True)).order_by(Employee.id)).first()
    who = {"employee_id": technician.id} if technician else {"technician_name": "Иван Кузнецов"}
    labor = [services.add_line(wo, "labor", {"job_id": j.id, "name": j.name, "hours": j.standard_hours,
                                             "rate": RATE, "fixed_price": j.fixed_price, **who}, None)
             for j in jobs]
    for name, qty, unit, price in parts:
        services.add_line(wo, "part", {"name": name, "quantity": Decimal(qty), "unit": unit, "price": Decimal(price),
                                       "labor_line_id": labor[-1].id}, None)
    decisions = [{"line_id": line.id, "kind": "labor", "decision": "approved"} for line in labor]
    services.record_decisions(wo, {"by": "Клиент", "channel": "in_person", "decisions": decisions}, None)
    if insurer is not None:
        payer = services.set_payers(wo, [{"kind": "insurer", "counterparty_id": insurer.id,
                                          "claim_number": "ОСАГО ХХХ 0354879123", "excess": Decimal("3000.00")}],
                                    None)[0]
        services.set_shares(wo, "labor", labor[-1], [{"payer_id": payer.id, "percent": Decimal("100")}], None)
    steps = {"closed": ("approve", "start", "finish", "close"), "in_progress": ("approve", "start")}[state]
    for name in steps:
        transition(wo, name, None, commit=False)
    return 2
