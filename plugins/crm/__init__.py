"""Clients and cars plugin: counterparties, vehicles, odometer, instant search, service book,
recommendations, duplicates and merge, CSV/XLSX import.

Generic CRUD (``/api/v1/crm/clients|vehicles|recommendations|service-entries``) comes from the core for
the entity types registered below; :mod:`plugins.crm.api` adds what does not fit it. Other plugins
contribute to the service book and the last-visit column through the hooks in
:mod:`plugins.crm.hookspecs`.
"""
from core.i18n import domain
from core.plugins import Manifest, hookimpl
from core.registry import EntityType, MenuItem, Permission

from . import hookspecs  # noqa: F401 - the host adds the CRM's own hookspecs from this attribute
from .message_settings import MessageSettingsSchema
from .planner_bridge import planner_client_by_phone, planner_client_from_booking  # noqa: F401 - the planner's hooks

_l = domain("crm").lazy_gettext

manifest = Manifest(
    slug="crm",
    version="0.1.0",
    title=_l("Clients and cars"),
    requires=(),
    features={
        "crm.clients": _l("Client and car directory, find a car by plate, service book"),
        "crm.basic": _l("Filters, inviting clients back, reviews, messages"),
        "crm.advanced": _l("Call log, telephony, mass SMS and e-mail, tasks and reminders"),
    },
    settings_schema=MessageSettingsSchema,
)

FEATURE = "crm.clients"
BASIC = "crm.basic"
_ALL = ("owner", "admin", "service_advisor")
_READ = _ALL + ("technician", "cashier", "accountant")


@hookimpl
def register_models():
    from . import forecasts, indexing  # noqa: F401 - install the session hooks that keep search keys and forecasts right
    from . import mailings, messages, reminders, reviews, segments, spend, tasks, visit_index
    from .models import ALL_MODELS

    return (ALL_MODELS + reminders.MODELS + messages.MODELS + segments.MODELS + reviews.MODELS + mailings.MODELS
            + spend.MODELS + tasks.MODELS + visit_index.MODELS + forecasts.MODELS)


@hookimpl
def register_permissions():
    perms = []
    for obj, title in (("client", _l("clients")), ("vehicle", _l("vehicles"))):
        perms += [
            Permission(f"crm.{obj}.read", _l("Read %(what)s", what=title), _READ),
            Permission(f"crm.{obj}.create", _l("Create %(what)s", what=title), _ALL),
            Permission(f"crm.{obj}.update", _l("Edit %(what)s", what=title), _ALL),
            Permission(f"crm.{obj}.delete", _l("Delete %(what)s", what=title), _ALL),
        ]
    perms += [
        Permission("crm.client.merge", _l("Merge duplicate clients"), _ALL),
        Permission("crm.client.import", _l("Import clients and vehicles from CSV/XLSX"), ("owner", "admin")),
        Permission("crm.recommendation.read", _l("Read recommendations"), _READ),
        Permission("crm.recommendation.create", _l("Create recommendations"), _ALL + ("technician",)),
        Permission("crm.recommendation.update", _l("Decide on recommendations"), _ALL),
        Permission("crm.recommendation.delete", _l("Delete recommendations"), ("owner", "admin")),
        Permission("crm.service_entry.read", _l("Read the service book"), _READ),
        Permission("crm.service_entry.create", _l("Add service-book entries"), _ALL),
        Permission("crm.service_entry.update", _l("Edit service-book entries"), _ALL),
        Permission("crm.service_entry.delete", _l("Delete service-book entries"), ("owner", "admin")),
        Permission("crm.reminder.read", _l("See maintenance reminders"), _READ),
        Permission("crm.reminder.update", _l("Record services done for reminders"), _ALL),
        Permission("crm.message.read", _l("Read messages to clients"), _ALL + ("cashier",)),
        Permission("crm.message.create", _l("Invite clients and approve messages"), _ALL),
        Permission("crm.report.read", _l("See client reports"), ("owner", "admin")),
        Permission("crm.segment.create", _l("Save client segments"), _ALL),
        Permission("crm.segment.update", _l("Rename client segments"), _ALL),
        Permission("crm.segment.delete", _l("Delete client segments"), _ALL),
        Permission("crm.mailing.read", _l("See mass mailings"), _ALL),
        Permission("crm.mailing.send", _l("Send mass mailings"), ("owner", "admin")),
        Permission("crm.task.read", _l("See tasks"), _READ),
        Permission("crm.task.create", _l("Create tasks"), _ALL + ("technician",)),
        Permission("crm.task.update", _l("Edit tasks and mark them done"), _ALL + ("technician",)),
    ]
    for obj, title in (("service_interval", _l("service intervals")), ("message_template", _l("message templates")),
                       ("channel_spend", _l("advertising spend"))):
        perms += [
            Permission(f"crm.{obj}.read", _l("Read %(what)s", what=title), _ALL),
            Permission(f"crm.{obj}.create", _l("Create %(what)s", what=title), ("owner", "admin")),
            Permission(f"crm.{obj}.update", _l("Edit %(what)s", what=title), ("owner", "admin")),
            Permission(f"crm.{obj}.delete", _l("Delete %(what)s", what=title), ("owner", "admin")),
        ]
    return perms


@hookimpl
def register_entities():
    from .messages import MessageTemplate, TemplateSchema
    from .models import Client, Recommendation, ServiceEntry, Vehicle
    from .reminders import IntervalSchema, ServiceInterval
    from .schemas import ClientSchema, RecommendationSchema, ServiceEntrySchema, VehicleSchema
    from .spend import ChannelSpend, ChannelSpendSchema

    return [
        EntityType(plugin="crm", resource="clients", model=Client, schema=ClientSchema, title=_l("Clients"),
                   feature=FEATURE, permission_prefix="crm.client",
                   search_fields=("name", "inn"), filter_fields=("kind", "is_client", "is_supplier", "is_insurer",
                                                                 "source", "inn"),
                   sort_fields=("id", "name", "created_at"), list_columns=("name", "kind", "phones")),
        EntityType(plugin="crm", resource="vehicles", model=Vehicle, schema=VehicleSchema, title=_l("Vehicles"),
                   feature=FEATURE, permission_prefix="crm.vehicle",
                   search_fields=("vin", "plate", "make", "model"),
                   filter_fields=("client_id", "make", "model", "year", "fuel", "plate", "vin"),
                   sort_fields=("id", "plate", "make", "year", "created_at"),
                   list_columns=("plate", "make", "model", "year", "vin")),
        EntityType(plugin="crm", resource="recommendations", model=Recommendation, schema=RecommendationSchema,
                   title=_l("Recommendations"), feature=FEATURE, permission_prefix="crm.recommendation",
                   search_fields=("text", "job"), filter_fields=("vehicle_id", "state", "urgency", "source"),
                   sort_fields=("id", "created_at", "urgency"), list_columns=("vehicle_id", "text", "urgency", "state")),
        EntityType(plugin="crm", resource="service-entries", model=ServiceEntry, schema=ServiceEntrySchema,
                   title=_l("Service book entries"), feature=FEATURE, permission_prefix="crm.service_entry",
                   search_fields=("description", "performed_by"), filter_fields=("vehicle_id",),
                   sort_fields=("id", "performed_on"), list_columns=("vehicle_id", "performed_on", "description")),
        EntityType(plugin="crm", resource="service-intervals", model=ServiceInterval, schema=IntervalSchema,
                   title=_l("Service intervals"), feature=BASIC, permission_prefix="crm.service_interval",
                   search_fields=("title", "code"), filter_fields=("code", "make", "model", "vehicle_id", "active"),
                   sort_fields=("id", "code"), list_columns=("title", "every_km", "every_months", "make", "model")),
        EntityType(plugin="crm", resource="message-templates", model=MessageTemplate, schema=TemplateSchema,
                   title=_l("Message templates"), feature=BASIC, permission_prefix="crm.message_template",
                   search_fields=("title", "body"), filter_fields=("event", "channel", "mode", "active"),
                   sort_fields=("id", "event"), list_columns=("event", "channel", "mode", "title")),
        EntityType(plugin="crm", resource="channel-spend", model=ChannelSpend, schema=ChannelSpendSchema,
                   title=_l("Advertising spend"), feature=BASIC, permission_prefix="crm.channel_spend",
                   search_fields=("source", "note"), filter_fields=("source", "month"),
                   sort_fields=("id", "month", "source"), list_columns=("month", "source", "amount", "note")),
    ]


@hookimpl
def register_blueprints():
    from .api import bp as api_bp
    from .basic_api import api as basic_api_bp, ui as basic_ui_bp
    from .mailing_api import api as mailing_api_bp, ui as mailing_ui_bp
    from .mailings import public as mailing_public_bp
    from .reviews import public as public_bp
    from .segment_views import api as segment_api_bp, ui as segment_ui_bp
    from .task_api import api as task_api_bp, ui as task_ui_bp
    from .views import bp as ui_bp

    return [api_bp, ui_bp, basic_api_bp, basic_ui_bp, public_bp, mailing_api_bp, mailing_ui_bp, mailing_public_bp,
            task_api_bp, task_ui_bp, segment_api_bp, segment_ui_bp]


@hookimpl
def register_reports():
    from core.registry import Report

    from .reports import advisor_statistics, channel_efficiency, client_activity

    return [
        Report(key="crm.client-activity", title=_l("Client base activity per month"), run=client_activity,
               feature=BASIC, permission="crm.report.read", order=300,
               params={"from": "YYYY-MM", "to": "YYYY-MM", "gap": "months"}),
        Report(key="crm.channels", title=_l("Advertising channel efficiency"), run=channel_efficiency,
               feature=BASIC, permission="crm.report.read", order=310,
               params={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}),
        Report(key="crm.advisors", title=_l("Service advisor statistics"), run=advisor_statistics,
               feature=BASIC, permission="crm.report.read", order=320,
               params={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}),
    ]


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("crm.search", _l("Search"), "/crm/search", order=100, feature=FEATURE,
                 permission="crm.client.read", section="crm", icon="search"),
        MenuItem("crm.clients", _l("Clients"), "/crm/clients", order=110, feature=FEATURE,
                 permission="crm.client.read", section="crm", icon="users"),
        MenuItem("crm.vehicles", _l("Vehicles"), "/crm/vehicles", order=120, feature=FEATURE,
                 permission="crm.vehicle.read", section="crm", icon="car"),
        MenuItem("crm.recommendations", _l("Recommendations"), "/crm/recommendations", order=125, feature=FEATURE,
                 permission="crm.recommendation.read", section="crm", icon="wrench"),
        MenuItem("crm.import", _l("Import"), "/crm/import", order=190, feature=FEATURE,
                 permission="crm.client.import", section="crm", icon="upload"),
        MenuItem("crm.reminders", _l("Maintenance due"), "/crm/reminders", order=130, feature=BASIC,
                 permission="crm.reminder.read", section="crm", icon="bell"),
        MenuItem("crm.messages", _l("Messages"), "/crm/messages", order=135, feature=BASIC,
                 permission="crm.message.read", section="crm", icon="send"),
        MenuItem("crm.segments", _l("Client filters"), "/crm/segments", order=136, feature=BASIC,
                 permission="crm.client.read", section="crm", icon="users"),
        MenuItem("crm.mailings", _l("Mass mailing"), "/crm/mailings", order=137, feature="crm.advanced",
                 permission="crm.mailing.read", section="crm", icon="send"),
        MenuItem("crm.tasks", _l("Tasks"), "/crm/tasks", order=105, feature="crm.advanced",
                 permission="crm.task.read", section="crm", icon="bell"),
        MenuItem("crm.service_intervals", _l("Service intervals"), "/crm/service-intervals", order=140,
                 feature=BASIC, permission="crm.service_interval.read", section="crm", icon="wrench"),
        MenuItem("crm.message_templates", _l("Message templates"), "/crm/message-templates", order=150,
                 feature=BASIC, permission="crm.message_template.read", section="crm", icon="mail"),
        MenuItem("crm.report_activity", _l("Client base activity"), "/crm/reports/client-activity", order=160,
                 feature=BASIC, permission="crm.report.read", section="crm", icon="chart"),
        MenuItem("crm.report_advisors", _l("Service advisors"), "/crm/reports/advisors", order=167,
                 feature=BASIC, permission="crm.report.read", section="crm", icon="chart"),
        MenuItem("crm.channel_spend", _l("Advertising spend"), "/crm/channel-spend", order=166,
                 feature=BASIC, permission="crm.channel_spend.read", section="crm", icon="chart"),
        MenuItem("crm.report_channels", _l("Advertising channels"), "/crm/reports/channels", order=165,
                 feature=BASIC, permission="crm.report.read", section="crm", icon="chart"),
    ]


@hookimpl
def crm_service_book_entries(vehicle_id):
    from .services import manual_entries

    return manual_entries(vehicle_id)


@hookimpl
def demo_data(tenant):
    from .demo import add_demo_data
    from .messages import seed_templates
    from .reminders import seed_intervals

    add_demo_data(tenant)
    # Tenants created before reminders existed get the default catalog and templates here too.
    seed_intervals()
    seed_templates()


@hookimpl
def register_jobs():
    from datetime import timedelta

    from core.jobs import Job

    from .forecasts import refresh_job
    from .messages import send_job
    from .visit_index import MAX_AGE, index_job

    return [Job("crm.send_messages", send_job, feature=BASIC, schedule=timedelta(minutes=1),
                title=_l("Send queued messages to clients")),
            Job("crm.index_visits", index_job, feature=BASIC, schedule=MAX_AGE,
                title=_l("Index client visits for the client filters")),
            Job("crm.refresh_forecasts", refresh_job, feature=BASIC, schedule=timedelta(days=1),
                title=_l("Recompute when each car's maintenance is due"))]


@hookimpl
def tenant_plugin_enabled(tenant, slug):
    if slug != "crm":
        return
    from .messages import seed_templates
    from .reminders import seed_intervals

    # Seeded with the plugin (not the feature) so the catalog is ready the day the shop upgrades.
    seed_intervals()
    seed_templates()


@hookimpl
def on_event(event):
    from core.tenancy import current_tenant

    if not current_tenant().has(BASIC):
        return
    from .messages import handle_event
    from .reminders import convert_for_booking, record_from_visit

    if event.name == "workshop.work_order.close":
        from .reviews import request_after_close

        record_from_visit(event)
        request_after_close(event)
    if event.name == "planner.booking.confirmed":
        convert_for_booking(event.payload.get("vehicle_id"))
    handle_event(event)


@hookimpl
def crm_message_channels():
    from .channels import BUILTIN

    return BUILTIN
