"""Row-level tenancy: the guard adds the tenant to every query and fails closed without one."""
import pytest
from sqlalchemy import select, text

from core.db import TenantMismatch, db, tenant_sql
from core.features import tenant_info
from core.models import Role, Tenant, User
from core.tenancy import TenantContextMissing, tenant_context


def _ctx(slug):
    return tenant_info(db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one())


def test_queries_see_only_the_current_tenant(app, user):
    a = user(role="owner")
    b = user(role="owner")
    with app.app_context():
        with tenant_context(_ctx(a.tenant.slug)):
            emails = set(db.session.scalars(select(User.email)))
            assert emails == {a.email}
            # a primary-key lookup of the other tenant's row finds nothing
            assert db.session.execute(select(User).where(User.id == b.id)).scalar_one_or_none() is None
        with tenant_context(_ctx(b.tenant.slug)):
            assert set(db.session.scalars(select(User.email))) == {b.email}


def test_tenant_query_without_context_fails_closed(app, user):
    user(role="owner")
    with app.app_context():
        with pytest.raises(TenantContextMissing):
            db.session.scalars(select(User)).all()
        with pytest.raises(TenantContextMissing):
            db.session.execute(db.update(Role).values(title="x"))
        # the operator can cross tenants, but only by saying so
        rows = db.session.scalars(select(User).execution_options(all_tenants=True)).all()
        assert len(rows) == 1


def test_writing_into_another_tenant_is_refused(app, user):
    a = user(role="owner")
    b = user(role="owner")
    with app.app_context():
        with tenant_context(_ctx(a.tenant.slug)):
            role = db.session.scalars(select(Role).where(Role.key == "cashier")).one()
        with tenant_context(_ctx(b.tenant.slug)):
            db.session.add(User(tenant_id=a.tenant.id, email="x@y.example", role_id=role.id))
            with pytest.raises(TenantMismatch):
                db.session.flush()
            db.session.rollback()


def test_update_and_delete_are_scoped(app, user):
    a = user(role="owner")
    b = user(role="owner")
    with app.app_context():
        with tenant_context(_ctx(a.tenant.slug)):
            db.session.execute(db.update(User).values(name="renamed"))
            db.session.commit()
        with tenant_context(_ctx(b.tenant.slug)):
            assert db.session.scalars(select(User.name)).one() == ""


def test_raw_sql_requires_the_tenant_bind(app, user):
    a = user(role="owner")
    user(role="owner")
    with app.app_context():
        with tenant_context(_ctx(a.tenant.slug)):
            with pytest.raises(ValueError):
                tenant_sql("select email from core_user")
            rows = tenant_sql("select email from core_user where tenant_id = :tenant_id").all()
            assert [r.email for r in rows] == [a.email]
        with pytest.raises(TenantContextMissing):
            tenant_sql("select email from core_user where tenant_id = :tenant_id")
        assert db.session.execute(text("select count(*) from core_user")).scalar() == 2


def test_counts_and_subqueries_cannot_slip_past_the_guard(app, user):
    from sqlalchemy import func

    from core.db import RawTenantQuery

    a = user(role="owner")
    user(role="owner")
    with app.app_context():
        counts = [
            select(func.count()).select_from(User),
            select(func.count()).select_from(select(User).subquery()),
        ]
        for stmt in counts:
            with pytest.raises(TenantContextMissing):
                db.session.execute(stmt)
            with tenant_context(_ctx(a.tenant.slug)):
                assert db.session.execute(stmt).scalar() == 1
        with tenant_context(_ctx(a.tenant.slug)):
            with pytest.raises(RawTenantQuery):
                db.session.execute(select(func.count()).select_from(User.__table__))
