"""Planner plugin: bays, the shop's working time, bookings without double booking, the day and week
grids, free slots, tomorrow's arrivals, calendar feeds per bay and the public online booking page.

Features (PRODUCT.md): ``planner.basic`` and ``planner.online_booking`` (Free), ``planner.quick``
(two-click booking, Basic), ``planner.advanced`` (load, buffers, several bays, earliest fit, slots by
technician skill).

Hooks for other plugins (:mod:`plugins.planner.hookspecs`, documented in docs/plugins.md):
``planner_booking_convert`` (a booking becomes a service order: the workshop's
``plugins/workshop/planner_bridge.py``), ``planner_booking_parts_status`` (the "Parts" column of the
arrivals, for the warehouse) and ``planner_job_catalog`` (planned jobs with standard hours). The planner
answers the CRM's ``crm_visits``, ``crm_vehicle_actions`` ("Book in planner") and ``crm_clients_merged``
(bookings follow a merged client: ``merge.py``).
"""
from core.i18n import domain
from core.plugins import Manifest, hookimpl
from core.registry import EntityType, MenuItem, Permission

from . import hookspecs  # noqa: F401 - the host adds the planner's own hookspecs from this attribute
from .merge import crm_clients_merged  # noqa: F401 - the CRM's client merge: bookings follow
from .settings import PlannerSettingsSchema
from .workshop_bridge import workshop_funnel_bookings  # noqa: F401 - the workshop's funnel hook

_l = domain("planner").lazy_gettext

manifest = Manifest(
    slug="planner",
    version="0.1.0",
    title=_l("Planner"),
    requires=(),
    features={
        "planner.online_booking": _l("Station web page where clients book themselves"),
        "planner.basic": _l("Planning by day and by bay"),
        "planner.quick": _l("Book a bay in two clicks; phone-friendly planner"),
        "planner.advanced": _l("Daily load, buffers, jobs over several bays, day plan"),
    },
    settings_schema=PlannerSettingsSchema,
)

STAFF = ("owner", "admin", "service_advisor", "technician", "cashier", "accountant")
BOOKERS = ("owner", "admin", "service_advisor")
MANAGERS = ("owner", "admin")


@hookimpl
def register_models():
    from .models import MODELS

    return MODELS


@hookimpl
def register_permissions():
    perms = [
        ("planner.booking.read", _l("See bookings"), STAFF),
        ("planner.booking.create", _l("Create bookings"), BOOKERS),
        ("planner.booking.update", _l("Change bookings and their status"), BOOKERS),
        ("planner.booking.delete", _l("Delete bookings"), MANAGERS),
        ("planner.bay.read", _l("See bays"), STAFF),
        ("planner.bay.create", _l("Add bays"), MANAGERS),
        ("planner.bay.update", _l("Change bays"), MANAGERS),
        ("planner.bay.delete", _l("Delete bays"), MANAGERS),
        ("planner.schedule.read", _l("See working hours, breaks and days off"), STAFF),
        ("planner.schedule.create", _l("Add working hours, breaks and days off"), MANAGERS),
        ("planner.schedule.update", _l("Change working hours, breaks and days off"), MANAGERS),
        ("planner.schedule.delete", _l("Delete working hours, breaks and days off"), MANAGERS),
        ("planner.settings.manage", _l("Edit planner and online booking settings"), MANAGERS),
        ("planner.staffing.manage", _l("Assign technicians to bays and edit their skills"), BOOKERS),
    ]
    return [Permission(code, title, roles) for code, title, roles in perms]


@hookimpl
def register_entities():
    from .models import Bay, Break, DayOff, WorkingHours
    from .schemas import BaySchema, BreakSchema, DayOffSchema, WorkingHoursSchema

    basic = "planner.basic"
    return [
        EntityType(plugin="planner", resource="bays", model=Bay, schema=BaySchema, title=_l("Bays"),
                   feature=basic, permission_prefix="planner.bay", search_fields=("name",),
                   filter_fields=("type", "active"), sort_fields=("position", "name", "id"),
                   list_columns=("name", "type", "active", "position")),
        EntityType(plugin="planner", resource="working-hours", model=WorkingHours, schema=WorkingHoursSchema,
                   title=_l("Working hours"), feature=basic, permission_prefix="planner.schedule",
                   filter_fields=("weekday", "bay_id"), sort_fields=("weekday", "opens", "id"),
                   list_columns=("weekday", "opens", "closes", "bay_id")),
        EntityType(plugin="planner", resource="breaks", model=Break, schema=BreakSchema, title=_l("Breaks"),
                   feature=basic, permission_prefix="planner.schedule", sort_fields=("weekday", "starts", "id"),
                   list_columns=("weekday", "starts", "ends", "title")),
        EntityType(plugin="planner", resource="days-off", model=DayOff, schema=DayOffSchema,
                   title=_l("Days off and holidays"), feature=basic, permission_prefix="planner.schedule",
                   sort_fields=("day", "id"), list_columns=("day", "title")),
    ]


@hookimpl
def register_blueprints():
    from .advanced_views import bp as advanced_bp
    from .api import bp as api_bp
    from .public import bp as public_bp
    from .views import bp as ui_bp

    return [api_bp, ui_bp, public_bp, advanced_bp]


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("planner.day", _l("Planner"), "/planner/", order=100, feature="planner.basic",
                 permission="planner.booking.read", section="work"),
        MenuItem("planner.arrivals", _l("Tomorrow's arrivals"), "/planner/arrivals", order=110,
                 feature="planner.basic", permission="planner.booking.read", section="work"),
        MenuItem("planner.bays", _l("Bays"), "/planner/bays", order=810, feature="planner.basic",
                 permission="planner.bay.read", section="admin"),
        MenuItem("planner.settings", _l("Planner settings"), "/planner/settings", order=820,
                 feature="planner.basic", permission="planner.settings.manage", section="admin"),
        MenuItem("planner.skills", _l("Technicians' skills"), "/planner/skills", order=825,
                 feature="planner.advanced", permission="planner.staffing.manage", section="admin"),
    ]


@hookimpl
def tenant_plugin_enabled(tenant, slug):
    if slug == "planner":
        from .seed import seed_working_hours

        seed_working_hours()


@hookimpl(optionalhook=True)  # the CRM's hook; the planner works without the CRM
def crm_visits(date_to):
    from .service import planned_visits

    return planned_visits(date_to) or None


@hookimpl(optionalhook=True)  # the CRM's hook: "Book in planner" on the car's card and the due reminders
def crm_vehicle_actions(vehicle_id, client_id, reason):
    from urllib.parse import urlencode

    from flask import has_request_context
    from flask_login import current_user

    from core.tenancy import current_tenant

    tenant = current_tenant()
    if not tenant.has("planner.basic"):
        return None
    if has_request_context() and not (current_user and current_user.is_authenticated
                                      and current_user.can("planner.booking.create")):
        return None
    # The day grid with the car carried along (a free cell then opens the booking form with it filled
    # in; planner.advanced opens on the earliest free slot): a time is picked on the grid, not typed.
    query = {k: v for k, v in (("client_id", client_id), ("vehicle_id", vehicle_id), ("reason", reason)) if v}
    return [{"label": str(_l("Book in planner")), "url": f"/planner/?{urlencode(query)}" if query else "/planner/"}]


@hookimpl
def demo_data(tenant):
    from .seed import demo_data as fill

    fill(tenant)
