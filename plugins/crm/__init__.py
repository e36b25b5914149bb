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
)

FEATURE = "crm.clients"
_ALL = ("owner", "admin", "service_advisor")
_READ = _ALL + ("technician", "cashier", "accountant")


@hookimpl
def register_models():
    from . import indexing  # noqa: F401 - installs the session hooks that keep search keys right
    from .models import ALL_MODELS

    return ALL_MODELS


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
    ]
    return perms


@hookimpl
def register_entities():
    from .models import Client, Recommendation, ServiceEntry, Vehicle
    from .schemas import ClientSchema, RecommendationSchema, ServiceEntrySchema, VehicleSchema

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
    ]


@hookimpl
def register_blueprints():
    from .api import bp as api_bp
    from .views import bp as ui_bp

    return [api_bp, ui_bp]


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("crm.search", _l("Search"), "/crm/search", order=100, feature=FEATURE,
                 permission="crm.client.read", section="crm", icon="search"),
        MenuItem("crm.clients", _l("Clients"), "/crm/clients", order=110, feature=FEATURE,
                 permission="crm.client.read", section="crm", icon="users"),
        MenuItem("crm.vehicles", _l("Vehicles"), "/crm/vehicles", order=120, feature=FEATURE,
                 permission="crm.vehicle.read", section="crm", icon="car"),
        MenuItem("crm.import", _l("Import"), "/crm/import", order=190, feature=FEATURE,
                 permission="crm.client.import", section="crm", icon="upload"),
    ]


@hookimpl
def crm_service_book_entries(vehicle_id):
    from .services import manual_entries

    return manual_entries(vehicle_id)


@hookimpl
def demo_data(tenant):
    from .demo import add_demo_data

    add_demo_data(tenant)
