"""``garage demo`` fills the workshop of the tiers that have it, once."""


def test_demo_adds_orders_to_workshop_tenants_once(app, runner):
    from sqlalchemy import func, select

    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant
    from core.tenancy import tenant_context
    from plugins.crm.services import service_book
    from plugins.workshop.models import WorkOrder

    def counts():
        out = {}
        with app.app_context():
            for slug in ("demo-basic", "demo-specialist"):
                t = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
                with tenant_context(tenant_info(t)):
                    if "workshop" not in tenant_info(t).plugins:
                        out[slug] = None
                        continue
                    states = dict(db.session.execute(select(WorkOrder.state, func.count()).group_by(WorkOrder.state)).all())
                    closed = db.session.scalars(select(WorkOrder).where(WorkOrder.state == "closed")).first()
                    from plugins.crm.models import Vehicle

                    book = service_book(db.session.get(Vehicle, closed.vehicle_id))
                    out[slug] = (states, any(e["source"] == "workshop.work_order" for e in book))
        return out

    assert runner.invoke(args=["demo"]).exit_code == 0
    first = counts()
    assert first["demo-basic"] is None
    assert first["demo-specialist"] == ({"closed": 2, "in_progress": 1}, True)
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert counts() == first


def test_demo_shops_have_a_labour_rate_and_their_technicians_employee_cards(app, runner):
    """Without a rate every catalog job without a fixed price bills 0; without an employee card a
    technician cannot be given a job."""
    from sqlalchemy import select

    from core.db import db
    from core.features import tenant_info
    from core.models import Tenant, User
    from core.tenancy import tenant_context
    from plugins.workshop.norms import LaborRate
    from plugins.workshop.staff import Employee

    assert runner.invoke(args=["demo"]).exit_code == 0
    assert runner.invoke(args=["demo"]).exit_code == 0  # nothing twice
    with app.app_context():
        t = db.session.execute(select(Tenant).where(Tenant.slug == "demo-profi")).scalar_one()
        with tenant_context(tenant_info(t)):
            rates = db.session.scalars(select(LaborRate.rate).where(LaborRate.category.is_(None))).all()
            cards = db.session.execute(select(Employee.name, User.email).join(User, User.id == Employee.user_id)).all()
            from plugins.workshop.models import WorkOrder

            advisors = set(db.session.scalars(select(User.email).join(WorkOrder, WorkOrder.advisor_id == User.id)))
    assert [str(r) for r in rates] == ["2200.00"]
    assert cards == [("Иван Кузнецов", "technician@demo-profi.example")]
    assert advisors == {"advisor@demo-profi.example"}  # the orders name who received the cars
