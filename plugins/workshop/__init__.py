"""Workshop plugin: service orders (reception acts), work orders (заказ-наряды) with labour and parts
lines, several payers per line, the client's decision per line, estimates, diagnostic acts, the job
catalog and clocked time.

- Document types (:mod:`plugins.workshop.documents`): ``workshop.service_order`` (``SO-…``),
  ``workshop.work_order`` (``WO-…``), ``workshop.estimate`` (``EST-…``) and
  ``workshop.diagnostic_act`` (``DA-…``); the core serves ``/api/v1/workshop/<resource>`` (list,
  create, get, update, void, transitions, print, print.pdf) and the generic pages.
  :mod:`plugins.workshop.api` adds lines, payers, shares, decisions, totals, conversions into work
  orders, the technician's jobs and clock, the funnel and the productivity report;
  :mod:`plugins.workshop.views` the line and decision forms of the work order page.
- Entity ``/api/v1/workshop/jobs``: the job catalog with standard hours (and usual parts, filled in
  with ``workshop.norms``).
- ``workshop.staff`` (:mod:`plugins.workshop.staff`, ``staff_api``, ``staff_views``): entity
  ``/employees`` (hourly cost, piece-rate %); attendance ``POST /attendance/<shift|break>/<start|stop>``
  and managers' ``/time-entries`` (shift/break/job in one table with the job clock); comments and part
  requests on a job (``/work-orders/<id>/labor-lines/<line>/comments|part-requests``, ``/part-requests``);
  reports ``/reports/productivity`` (attended, job, sold hours; productivity, efficiency, proficiency),
  ``/reports/payroll`` (piece-rate share of sold labour + hourly cost, to the kopeck), ``/reports/bays``;
  pages ``/workshop/my-jobs`` (the technician's phone page) and ``/workshop/reports/staff``.
- ``workshop.norms`` (:mod:`plugins.workshop.norms`): entities ``/job-norms`` (hours per job and
  make/model), ``/labor-rates`` (per category; no category: the shop's rate), ``/contract-rates`` (a
  client's rate and/or discount), applied when a catalog job is added as a labour line;
  ``/jobs/<id>/norms?make=&model=`` (norm beside the clocked average) and ``/reports/under-quoted``.
- Print templates (:mod:`plugins.workshop.print_templates`, page ``/workshop/print-templates``,
  permission ``workshop.print_template.manage``): the tenant edits every print form of every document
  type (the work order's ``shop_copy`` too; sandboxed Jinja, versioned); printing (HTML and PDF) uses
  the newest one.
- Photos (:mod:`plugins.workshop.photos`, ``photo_views``): intake photos on service orders and the
  technicians' photos of a job; multipart upload checked by content (Pillow) and size, files in
  :mod:`core.storage` under the tenant's prefix, served only to the same shop with permission.
- Maintenance due for the car (:mod:`plugins.workshop.due`): the CRM's reminders offered on the work
  order (``/work-orders/<id>/due-services``), added as job lines that reset the reminder on close.
- Comebacks (:mod:`plugins.workshop.comebacks`): the same job on the same car within the shop's
  ``comeback_days`` (settings) of a closed order, or a line marked as rework, is linked to the original
  order and technician; report ``/reports/comebacks``.
- Employees without a login: a foreman (``workshop.staff.manage``) runs their job clock and shifts
  (``employee_id`` in the clock, attendance and time-entry endpoints).
- Job lines are assigned to an employee (``employee_id``: this shop's, active; with or without a
  login) or a user (``technician_id``); either fills the other when the employee has a login
  (:func:`plugins.workshop.services.assignee`). The work order page's technician picker lists the
  active employees; productive time, payroll (sold hours, piece-rate pay) and comebacks count by
  employee, so employees without a login are paid for their jobs.
- The CRM: intake mileage goes into the car's odometer history, declined and deferred jobs become
  recommendations, recommendations carried out leave the list when the order closes, and closed
  orders are the car's service-book entries and last visits (the CRM's hooks); merged clients take
  their orders along.

Events for other plugins (after commit): ``workshop.work_order.<transition>`` (``.close``: parts to
write off, invoices per payer; ``.finish``: "your car is ready") and
``workshop.work_order.state.<state>``; :func:`plugins.workshop.services.totals` gives the amounts
per payer (net, VAT, total, the insurer's excess) and the lines carry ``item_id`` for the warehouse.
"""
from core.i18n import domain
from core.plugins import Manifest, hookimpl
from core.registry import Action, EntityType, MenuItem, Panel, Permission
from . import hookspecs  # noqa: F401 - the host adds the workshop's own hookspecs from this attribute
from .planner_bridge import planner_booking_convert, planner_job_catalog  # noqa: F401 - the planner's hooks
from .settings import WorkshopSettingsSchema

_l = domain("workshop").lazy_gettext

manifest = Manifest(
    slug="workshop",
    version="0.1.0",
    title=_l("Workshop"),
    requires=("crm",),
    settings_schema=WorkshopSettingsSchema,  # the comeback window
    features={
        "workshop.documents": _l("Sales funnel, work orders, estimates, printed documents"),
        "workshop.norms": _l("Standard hours by job and car, parts filled in from the chosen jobs"),
        "workshop.staff": _l("Employees, payroll, productive-time report"),
    },
)

FEATURE = "workshop.documents"
MANAGERS = ("owner", "admin")
ADVISORS = MANAGERS + ("service_advisor",)
STAFF = ADVISORS + ("technician", "cashier", "accountant")


@hookimpl
def register_models():
    from . import norms, photos, print_templates, staff
    from .models import MODELS

    return MODELS + staff.MODELS + norms.MODELS + print_templates.MODELS + photos.MODELS


@hookimpl
def register_permissions():
    so, wo = "workshop.service_order", "workshop.work_order"
    perms = [
        Permission(f"{so}.read", _l("See service orders"), STAFF),
        Permission(f"{so}.create", _l("Create service orders"), ADVISORS),
        Permission(f"{so}.update", _l("Edit service orders"), ADVISORS),
        Permission(f"{so}.void", _l("Void service orders"), MANAGERS),
        Permission(f"{so}.accept", _l("Receive cars (accept service orders)"), ADVISORS),
        Permission(f"{so}.close", _l("Close service orders"), ADVISORS + ("cashier",)),
        Permission(f"{so}.cancel", _l("Cancel service orders"), ADVISORS),
        Permission(f"{wo}.read", _l("See work orders"), STAFF),
        Permission(f"{wo}.create", _l("Create work orders"), ADVISORS),
        Permission(f"{wo}.update", _l("Edit work orders, their lines, payers and decisions"), ADVISORS),
        Permission(f"{wo}.void", _l("Void work orders"), MANAGERS),
        Permission(f"{wo}.approve", _l("Approve work orders"), ADVISORS),
        Permission(f"{wo}.start", _l("Start and resume work"), ADVISORS + ("technician",)),
        Permission(f"{wo}.wait", _l("Put work orders on hold (parts or client)"), ADVISORS),
        Permission(f"{wo}.finish", _l("Finish work (ready for pickup)"), ADVISORS + ("technician",)),
        Permission(f"{wo}.close", _l("Close work orders"), ADVISORS + ("cashier",)),
        Permission(f"{wo}.cancel", _l("Cancel work orders"), ADVISORS),
        Permission("workshop.estimate.read", _l("See estimates"), STAFF),
        Permission("workshop.estimate.create", _l("Make estimates"), ADVISORS),
        Permission("workshop.estimate.update", _l("Edit estimates and record the client's answer"), ADVISORS),
        Permission("workshop.estimate.void", _l("Void estimates"), MANAGERS),
        Permission("workshop.diagnostic_act.read", _l("See diagnostic acts"), STAFF),
        Permission("workshop.diagnostic_act.create", _l("Make diagnostic acts"), ADVISORS + ("technician",)),
        Permission("workshop.diagnostic_act.update", _l("Edit and complete diagnostic acts"), ADVISORS + ("technician",)),
        Permission("workshop.diagnostic_act.void", _l("Void diagnostic acts"), MANAGERS),
        Permission("workshop.report.productivity", _l("See the technicians' productivity report"), MANAGERS),
        Permission("workshop.print_template.manage", _l("Edit the print templates of documents"), MANAGERS),
        Permission("workshop.job.read", _l("See the job catalog"), STAFF),
        Permission("workshop.job.create", _l("Add jobs to the catalog"), ADVISORS),
        Permission("workshop.job.update", _l("Edit the job catalog"), ADVISORS),
        Permission("workshop.job.delete", _l("Delete jobs from the catalog"), MANAGERS),
        # workshop.staff: wages are the owners' business (read included).
        Permission("workshop.employee.read", _l("See employees and their pay rates"), MANAGERS),
        Permission("workshop.employee.create", _l("Add employees"), MANAGERS),
        Permission("workshop.employee.update", _l("Edit employees"), MANAGERS),
        Permission("workshop.employee.delete", _l("Delete employees"), MANAGERS),
        Permission("workshop.attendance.clock", _l("Clock one's own shift and breaks"), STAFF),
        Permission("workshop.attendance.manage", _l("Record and see everyone's time entries"), MANAGERS),
        Permission("workshop.staff.manage", _l("Start, pause and finish other employees' job time and shifts "
                                               "(also employees without a login)"), ADVISORS),
        Permission("workshop.report.payroll", _l("See the payroll draft"), MANAGERS),
        # workshop.norms
        *[Permission(f"workshop.{obj}.{op}", title, roles) for obj, titles in (
            ("job_norm", (_l("See labour norms by car"), _l("Add labour norms"), _l("Edit labour norms"),
                          _l("Delete labour norms"))),
            ("labor_rate", (_l("See labour rates"), _l("Add labour rates"), _l("Edit labour rates"),
                            _l("Delete labour rates"))),
            ("contract_rate", (_l("See clients' contract prices"), _l("Add contract prices"),
                               _l("Edit contract prices"), _l("Delete contract prices"))),
        ) for op, title, roles in zip(("read", "create", "update", "delete"), titles,
                                      (STAFF, ADVISORS, ADVISORS, MANAGERS))],
    ]
    return perms


@hookimpl
def register_reports():
    from core.registry import Report

    from .comebacks import run_report

    return [Report(key="workshop.comebacks", title=_l("Comebacks"), run=run_report, feature=FEATURE,
                   permission="workshop.report.productivity", order=400,
                   params={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"})]


@hookimpl
def register_document_types():
    from .documents import DIAGNOSTIC_ACT, ESTIMATE, SERVICE_ORDER, WORK_ORDER

    return [SERVICE_ORDER, WORK_ORDER, ESTIMATE, DIAGNOSTIC_ACT]


@hookimpl
def register_entities():
    from .models import Job
    from .norms import ContractRate, ContractRateSchema, JobNorm, JobNormSchema, LaborRate, LaborRateSchema
    from .schemas import JobSchema
    from .staff import Employee, EmployeeSchema

    return [
        EntityType(plugin="workshop", resource="jobs", model=Job, schema=JobSchema, title=_l("Job catalog"),
                   feature=FEATURE, permission_prefix="workshop.job", search_fields=("name", "code"),
                   filter_fields=("category", "active", "code"), sort_fields=("id", "name", "code", "standard_hours"),
                   list_columns=("code", "name", "standard_hours", "fixed_price", "active")),
        EntityType(plugin="workshop", resource="employees", model=Employee, schema=EmployeeSchema,
                   title=_l("Employees"), feature="workshop.staff", permission_prefix="workshop.employee",
                   search_fields=("name", "position"), filter_fields=("active", "user_id"),
                   sort_fields=("id", "name"), list_columns=("name", "position", "hourly_cost",
                                                             "piece_rate_percent", "active")),
        EntityType(plugin="workshop", resource="job-norms", model=JobNorm, schema=JobNormSchema,
                   title=_l("Labour norms by car"), feature="workshop.norms", permission_prefix="workshop.job_norm",
                   search_fields=("make", "model"), filter_fields=("job_id", "make", "model"),
                   sort_fields=("id", "make", "model"), list_columns=("job_id", "make", "model", "hours")),
        EntityType(plugin="workshop", resource="labor-rates", model=LaborRate, schema=LaborRateSchema,
                   title=_l("Labour rates"), feature="workshop.norms", permission_prefix="workshop.labor_rate",
                   filter_fields=("category",), sort_fields=("id", "category"), list_columns=("category", "rate")),
        EntityType(plugin="workshop", resource="contract-rates", model=ContractRate, schema=ContractRateSchema,
                   title=_l("Contract prices"), feature="workshop.norms", permission_prefix="workshop.contract_rate",
                   filter_fields=("client_id",), sort_fields=("id",),
                   list_columns=("client_id", "rate", "discount_percent")),
    ]


@hookimpl
def register_blueprints():
    from .api import bp as api_bp
    from .funnel_views import bp as funnel_ui_bp
    from .norms_views import bp as norms_ui_bp
    from .photo_views import api_bp as photos_api_bp, ui_bp as photos_ui_bp
    from .print_template_views import bp as print_templates_bp
    from .staff_api import bp as staff_api_bp
    from .staff_views import bp as staff_ui_bp
    from .views import bp as ui_bp

    return [api_bp, ui_bp, funnel_ui_bp, norms_ui_bp, staff_api_bp, staff_ui_bp, print_templates_bp, photos_api_bp,
            photos_ui_bp]


@hookimpl
def menu_items(ctx):
    return [
        MenuItem("workshop.service_orders", _l("Service orders"), "/workshop/service-orders", order=200,
                 feature=FEATURE, permission="workshop.service_order.read", section="workshop", icon="clipboard"),
        MenuItem("workshop.work_orders", _l("Work orders"), "/workshop/work-orders", order=210,
                 feature=FEATURE, permission="workshop.work_order.read", section="workshop", icon="wrench"),
        MenuItem("workshop.estimates", _l("Estimates"), "/workshop/estimates", order=212,
                 feature=FEATURE, permission="workshop.estimate.read", section="workshop", icon="calculator"),
        MenuItem("workshop.diagnostic_acts", _l("Diagnostic acts"), "/workshop/diagnostic-acts", order=214,
                 feature=FEATURE, permission="workshop.diagnostic_act.read", section="workshop", icon="search"),
        MenuItem("workshop.funnel", _l("Sales funnel"), "/workshop/funnel", order=216,
                 feature=FEATURE, permission="workshop.work_order.read", section="workshop", icon="filter"),
        MenuItem("workshop.jobs", _l("Job catalog"), "/workshop/jobs", order=220,
                 feature=FEATURE, permission="workshop.job.read", section="workshop", icon="list"),
        MenuItem("workshop.my_jobs", _l("My jobs"), "/workshop/my-jobs", order=230,
                 feature="workshop.staff", permission="workshop.attendance.clock", section="workshop", icon="clock"),
        MenuItem("workshop.employees", _l("Employees"), "/workshop/employees", order=240,
                 feature="workshop.staff", permission="workshop.employee.read", section="workshop", icon="users"),
        MenuItem("workshop.staff_reports", _l("Productive time and payroll"), "/workshop/reports/staff", order=250,
                 feature="workshop.staff", permission="workshop.report.productivity", section="workshop",
                 icon="bar-chart"),
        MenuItem("workshop.comebacks", _l("Comebacks"), "/workshop/reports/comebacks", order=255,
                 feature=FEATURE, permission="workshop.report.productivity", section="workshop", icon="rotate-ccw"),
        MenuItem("workshop.job_norms", _l("Labour norms by car"), "/workshop/job-norms", order=260,
                 feature="workshop.norms", permission="workshop.job_norm.read", section="workshop", icon="book"),
        MenuItem("workshop.labor_rates", _l("Labour rates"), "/workshop/labor-rates", order=262,
                 feature="workshop.norms", permission="workshop.labor_rate.read", section="workshop", icon="tag"),
        MenuItem("workshop.contract_rates", _l("Contract prices"), "/workshop/contract-rates", order=264,
                 feature="workshop.norms", permission="workshop.contract_rate.read", section="workshop",
                 icon="file-text"),
        MenuItem("workshop.print_templates", _l("Print templates"), "/workshop/print-templates", order=270,
                 feature=FEATURE, permission="workshop.print_template.manage", section="workshop", icon="printer"),
    ]


@hookimpl
def document_panels(document, ctx):
    from .models import ServiceOrder, WorkOrder
    from .photos import photos_panel
    from .printing import work_order_panel

    if isinstance(document, WorkOrder):
        from .due import due_panel

        from .staff_views import clock_for_panel, job_notes_panel
        from .views import planned_jobs_panel, recommendations_panel

        panels = [Panel("workshop.lines", _l("Lines and payers"), work_order_panel(document, ctx.user), order=100),
                  Panel("workshop.photos", _l("Photos of the jobs"), photos_panel(document, ctx.user), order=120)]
        optional = (("workshop.planned_jobs", _l("Planned at reception"), planned_jobs_panel, 104),
                    ("workshop.job_notes", _l("From the technicians"), job_notes_panel, 105),
                    ("workshop.recommendations", _l("Recommended for this car"), recommendations_panel, 108),
                    ("workshop.due", _l("Due for this car"), due_panel, 110),
                    ("workshop.clock_for", _l("Job time of employees"), clock_for_panel, 115))
        for key, title, make, order in optional:  # each answers None when it has nothing to show
            html = make(document, ctx.user)
            if html is not None:
                panels.append(Panel(key, title, html, order=order))
        return panels
    if isinstance(document, ServiceOrder):
        return [Panel("workshop.photos", _l("Photos"), photos_panel(document, ctx.user), order=100)]
    from .models import DiagnosticAct, Estimate
    from .views import list_editor_panel

    if isinstance(document, Estimate):
        return [Panel("workshop.items", _l("Lines"), list_editor_panel("estimates", document, ctx.user), order=100)]
    if isinstance(document, DiagnosticAct):
        return [Panel("workshop.findings", _l("Findings"), list_editor_panel("diagnostic-acts", document, ctx.user),
                      order=100)]
    return []


@hookimpl
def document_actions(document, ctx):
    """"Make a work order" on the pages of the documents a work order is made from; the work order's
    shop copy (for the technicians, no prices)."""
    from .models import DiagnosticAct, Estimate, ServiceOrder, WorkOrder

    if isinstance(document, WorkOrder):
        return [Action("workshop.shop_copy", _l("Shop copy"),
                       f"/api/v1/workshop/work-orders/{document.id}/print?template=shop_copy", order=60,
                       method="get", permission="workshop.work_order.read")]

    sources = ((ServiceOrder, "service-orders", ("draft", "accepted")),
               (Estimate, "estimates", ("draft", "sent", "accepted")),
               (DiagnosticAct, "diagnostic-acts", ("completed",)))
    for model, resource, states in sources:
        if isinstance(document, model) and document.state in states:
            return [Action("workshop.make_work_order", _l("Make a work order"),
                           f"/workshop/{resource}/{document.id}/make-work-order", order=50,
                           permission="workshop.work_order.create")]
    return []


# --- the documents' lifecycle -------------------------------------------------------------------------


@hookimpl
def before_transition(document, transition, actor):
    from . import services
    from .models import ServiceOrder, WorkOrder

    if isinstance(document, WorkOrder) and transition.name in services.CLOCK_STOPPING:
        services.stop_job_clocks(document, actor, transition.name)
    if isinstance(document, WorkOrder) and transition.name == "close":
        services.on_work_order_closing(document, actor)
    elif isinstance(document, ServiceOrder) and transition.name == "accept":
        services.on_service_order_accepting(document, actor)


@hookimpl
def after_transition(document, transition, actor):
    from . import services
    from .models import WorkOrder

    if isinstance(document, WorkOrder) and transition.name == "close":
        services.close_service_order_after(document)


# --- the CRM's hooks ----------------------------------------------------------------------------------


@hookimpl
def crm_service_book_entries(vehicle_id):
    from .services import service_book_entries

    return service_book_entries(vehicle_id)


@hookimpl
def crm_last_visits(vehicle_ids):
    from .services import last_visits

    return last_visits(vehicle_ids)


@hookimpl
def crm_visits(date_to):
    from core.tenancy import current_tenant

    from .services import visits_until

    # None (not an empty list) while the shop has no closed work orders: the CRM then counts its manual
    # service-book entries (e.g. history imported from the shop's previous system).
    if not current_tenant().has(FEATURE):
        return None
    return visits_until(date_to) or None


@hookimpl
def crm_clients_merged(target_id, source_id):
    from .services import repoint_client

    return repoint_client(target_id, source_id)


@hookimpl
def demo_data(tenant):
    from core.tenancy import current_tenant

    from .demo import add_demo_data

    if current_tenant().has(FEATURE):
        add_demo_data(tenant)
