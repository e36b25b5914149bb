"""Demo data: one shop per default tier, with staff and requisites, filled by the plugins.

``garage demo`` (see :func:`run`) is idempotent: it creates what is missing and leaves what exists
alone (an operator's edits to a demo tenant survive a second run). Plugins add their own demo data
through the ``demo_data(tenant)`` hook, called through the tenant's proxy (so only the plugins the
tenant has) with the tenant context pushed, one transaction per tenant.

Every demo user signs in with :data:`DEMO_PASSWORD`. It is public: never run ``garage demo`` on an
installation that real shops use.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from . import audit
from .db import db
from .features import ensure_default_tiers, tenant_info
from .models import Tenant, User
from .tenancy import tenant_context

DEMO_PASSWORD = "garage-demo-2024"

# Staff beyond the owner only where the tier sells roles and access rights.
STAFF_FEATURE = "core.access_rights"
STAFF = (
    ("advisor", "service_advisor", "Ольга Смирнова"),
    ("technician", "technician", "Иван Кузнецов"),
    ("cashier", "cashier", "Марина Волкова"),
)

# Realistic Russian requisites. INN, OGRN and the settlement accounts carry valid check digits (the
# account's against its bank's BIK), so validators written by other plugins accept them.
DEMO_TENANTS: tuple[dict, ...] = (
    {
        "slug": "demo-free", "tier": "free", "name": "Автосервис «Гараж 77»", "owner": "Алексей Петров",
        "requisites": {
            "legal_name": "ООО «Гараж 77»", "inn": "7705123452", "kpp": "770501001", "ogrn": "1027700123450",
            "address": "115114, г. Москва, ул. Кожевническая, д. 14, стр. 2",
            "phone": "+74959876543", "email": "info@garage77.example",
            "bank_name": "ПАО Сбербанк", "bik": "044525225", "corr_account": "30101810400000000225",
            "account": "40702810938000012345",
        },
    },
    {
        "slug": "demo-basic", "tier": "basic", "name": "СТО «Невский мотор»", "owner": "Дмитрий Соколов",
        "requisites": {
            "legal_name": "ООО «Невский мотор»", "inn": "7812345675", "kpp": "781201001", "ogrn": "1037800123459",
            "address": "192012, г. Санкт-Петербург, пр. Обуховской Обороны, д. 120, лит. А",
            "phone": "+78123456789", "email": "service@nevmotor.example",
            "bank_name": "Северо-Западный банк ПАО Сбербанк", "bik": "044030653",
            "corr_account": "30101810500000000653", "account": "40702810355000054321",
        },
    },
    {
        "slug": "demo-specialist", "tier": "specialist", "name": "Техцентр «Подмосковье»",
        "owner": "Сергей Морозов",
        "requisites": {
            "legal_name": "ООО «Техцентр Подмосковье»", "inn": "5027123457", "kpp": "502701001",
            "ogrn": "1055027123458",
            "address": "140002, Московская обл., г. Люберцы, Октябрьский пр-т, д. 112",
            "phone": "+74955551234", "email": "office@tc-podmoskovie.example",
            "bank_name": "ПАО Сбербанк", "bik": "044525225", "corr_account": "30101810400000000225",
            "account": "40702810338000098765",
        },
    },
    {
        "slug": "demo-master", "tier": "master", "name": "Автокомплекс «Казань-Сервис»",
        "owner": "Ринат Хабибуллин",
        "requisites": {
            "legal_name": "ООО «Казань-Сервис»", "inn": "1659876546", "kpp": "165901001",
            "ogrn": "1161650123458",
            "address": "420088, Республика Татарстан, г. Казань, ул. Журналистов, д. 54",
            "phone": "+78432123456", "email": "zakaz@kazan-service.example",
            "bank_name": "Отделение «Банк Татарстан» № 8610 ПАО Сбербанк", "bik": "049205603",
            "corr_account": "30101810600000000603", "account": "40702810462000011223",
        },
    },
    {
        "slug": "demo-profi", "tier": "profi", "name": "Сеть автосервисов «Урал-Авто»",
        "owner": "Андрей Лебедев",
        "requisites": {
            "legal_name": "АО «Урал-Авто»", "inn": "6671122336", "kpp": "667101001", "ogrn": "1176671122330",
            "address": "620026, Свердловская обл., г. Екатеринбург, ул. Куйбышева, д. 44",
            "phone": "+73432001122", "email": "fleet@ural-avto.example",
            "bank_name": "Уральский банк ПАО Сбербанк", "bik": "046577674",
            "corr_account": "30101810500000000674", "account": "40702810116540044556",
        },
    },
)


@dataclass(frozen=True)
class DemoLogin:
    tenant: str
    tier: str
    email: str
    role: str
    created: bool


class DemoError(RuntimeError):
    """A plugin's ``demo_data`` failed; the message names the plugin and the tenant."""


def inn_is_valid(inn: str) -> bool:
    """Check digit of a 10-digit (organisation) INN, per the Federal Tax Service algorithm."""
    if len(inn) != 10 or not inn.isdigit():
        return False
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return sum(int(d) * w for d, w in zip(inn, weights)) % 11 % 10 == int(inn[9])


def run() -> list[DemoLogin]:
    """Create (or complete) the demo tenants; commits once per tenant. Returns every demo login."""
    from .tenants import create_tenant, create_user, get_tenant

    from .security import hash_password

    if ensure_default_tiers():
        db.session.commit()
    # One Argon2 hash for every demo user: the password is public anyway, and hashing it once instead
    # of per user saves ~0.2 s a user.
    password_hash = None
    logins: list[DemoLogin] = []
    for spec in DEMO_TENANTS:
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == spec["slug"])).scalar_one_or_none()
        if tenant is None:
            tenant = create_tenant(spec["slug"], spec["name"], spec["tier"])
        if not tenant.requisites:
            with tenant_context(tenant_info(tenant)):
                audit.record("update", tenant, actor="operator",
                             changes={"requisites": [tenant.requisites, spec["requisites"]]})
            tenant.requisites = dict(spec["requisites"])
        info = tenant_info(tenant)
        wanted = [("owner", "owner", spec["owner"])]
        if STAFF_FEATURE in info.features:
            wanted += list(STAFF)
        with tenant_context(info):
            existing = set(db.session.scalars(select(User.email)))
        for local, role, name in wanted:
            email = f"{local}@{tenant.slug}.example"
            created = email not in existing
            if created:
                password_hash = password_hash or hash_password(DEMO_PASSWORD)
                create_user(get_tenant(tenant.slug), email, role, None, name).password_hash = password_hash
            logins.append(DemoLogin(tenant.slug, tenant.tier.key, email, role, created))
        _plugin_demo_data(tenant)
        db.session.commit()
    return logins


def _plugin_demo_data(tenant: Tenant) -> None:
    host = current_app.extensions["garage"]
    db.session.flush()
    info = tenant_info(tenant)
    caller = host.hooks_for(info.plugins).demo_data
    with tenant_context(info):
        # One implementation at a time, so a failure names its plugin (pluggy's own call would not).
        # In dependency order (the CRM before the workshop), never pluggy's last-registered-first.
        rank = {slug: i for i, slug in enumerate(host.order)}
        for impl in sorted(caller.get_hookimpls(), key=lambda i: rank.get(i.plugin_name, -1)):
            try:
                impl.function(**({"tenant": tenant} if "tenant" in impl.argnames else {}))
            except Exception as exc:  # noqa: BLE001 - re-raised with the plugin's name
                db.session.rollback()
                raise DemoError(f"plugin {impl.plugin_name!r} failed to add demo data to {tenant.slug!r}: "
                                f"{exc.__class__.__name__}: {exc}") from exc
        db.session.flush()  # inside the tenant context: the guard stamps and checks the new rows
