"""The workshop's document types and their workflows.

Service order (reception act, ``SO-2026-00001``)::

    draft --accept--> accepted --close--> closed          (cancel from draft/accepted; void by the engine)

Work order (заказ-наряд, ``WO-2026-00001``)::

    draft --approve--> approved --start--> in_progress --finish--> done --close--> closed
                          |  ^                |   ^                  |
                          wait|               wait|resume            reopen -> in_progress
                          v   |               v   |
                          waiting (parts or the client) --resume--> in_progress
    cancel: from draft, approved, waiting; void (engine): from any state that is not final.

``closed`` is immutable and final: a closed order is never changed again. Each transition has its own
permission ``workshop.work_order.<verb>``; guards refuse to approve or close while a line still waits
for the client's decision. Other plugins veto or react through the engine's hooks
(``validate_transition``, ``before/after_transition``, ``on_event`` with
``workshop.work_order.close`` etc.).
"""
from __future__ import annotations

from core.documents import DocumentType, State, Transition, Workflow
from core.i18n import domain

from .models import DiagnosticAct, Estimate, ServiceOrder, WorkOrder
from .schemas import DiagnosticActSchema, EstimateSchema, ServiceOrderSchema, WorkOrderSchema
from .print_templates import render_tenant_print
from .services import guard_approve, guard_close

_l = domain("workshop").lazy_gettext

FEATURE = "workshop.documents"

SO = "workshop.service_order"
WO = "workshop.work_order"
EST = "workshop.estimate"
DA = "workshop.diagnostic_act"

SERVICE_ORDER_VERBS = ("accept", "close", "cancel")
WORK_ORDER_VERBS = ("approve", "start", "wait", "finish", "close", "cancel")

SERVICE_ORDER_WORKFLOW = Workflow(
    initial="draft",
    states={
        "draft": State("draft", _l("Draft")),
        "accepted": State("accepted", _l("Car received")),
        "closed": State("closed", _l("Closed"), immutable=True, final=True),
        "cancelled": State("cancelled", _l("Cancelled"), immutable=True, final=True),
    },
    transitions={
        "accept": Transition("accept", _l("Receive the car"), ("draft",), "accepted",
                             permission=f"{SO}.accept", order=10),
        "close": Transition("close", _l("Close"), ("accepted",), "closed", permission=f"{SO}.close", order=20),
        "cancel": Transition("cancel", _l("Cancel"), ("draft", "accepted"), "cancelled",
                             permission=f"{SO}.cancel", order=800),
    },
)

WORK_ORDER_WORKFLOW = Workflow(
    initial="draft",
    states={
        "draft": State("draft", _l("Draft")),
        "approved": State("approved", _l("Approved")),
        "in_progress": State("in_progress", _l("In progress")),
        "waiting": State("waiting", _l("Waiting (parts or client)")),
        "done": State("done", _l("Ready for pickup")),
        "closed": State("closed", _l("Closed"), immutable=True, final=True),
        "cancelled": State("cancelled", _l("Cancelled"), immutable=True, final=True),
    },
    transitions={
        "approve": Transition("approve", _l("Approve"), ("draft",), "approved", permission=f"{WO}.approve",
                              guard=guard_approve, order=10),
        "start": Transition("start", _l("Start work"), ("approved",), "in_progress", permission=f"{WO}.start",
                            order=20),
        "wait": Transition("wait", _l("Wait for parts or the client"), ("approved", "in_progress"), "waiting",
                           permission=f"{WO}.wait", order=30),
        "resume": Transition("resume", _l("Resume work"), ("waiting",), "in_progress", permission=f"{WO}.start",
                             order=35),
        "finish": Transition("finish", _l("Work done"), ("in_progress",), "done", permission=f"{WO}.finish",
                             order=40),
        "reopen": Transition("reopen", _l("Back to work"), ("done",), "in_progress", permission=f"{WO}.finish",
                             order=45),
        "close": Transition("close", _l("Close"), ("done",), "closed", permission=f"{WO}.close",
                            guard=guard_close, order=50),
        "cancel": Transition("cancel", _l("Cancel"), ("draft", "approved", "waiting"), "cancelled",
                             permission=f"{WO}.cancel", order=800),
    },
)

SERVICE_ORDER = DocumentType(
    key=SO, plugin="workshop", resource="service-orders", model=ServiceOrder, schema=ServiceOrderSchema,
    title=_l("Service orders"), workflow=SERVICE_ORDER_WORKFLOW, number_prefix="SO", feature=FEATURE,
    print_templates={"default": "workshop/print/service_order.html"}, print_renderer=render_tenant_print,
    search_fields=("number",), filter_fields=("state", "client_id", "vehicle_id"),
    sort_fields=("id", "number", "created_at", "received_at"),
    list_columns=("number", "state", "client_name", "car_title", "odometer", "complaint"),
)

WORK_ORDER = DocumentType(
    key=WO, plugin="workshop", resource="work-orders", model=WorkOrder, schema=WorkOrderSchema,
    title=_l("Work orders"), workflow=WORK_ORDER_WORKFLOW, number_prefix="WO", feature=FEATURE,
    print_templates={"default": "workshop/print/work_order.html",
                     "shop_copy": "workshop/print/work_order_shop_copy.html"}, print_renderer=render_tenant_print,
    search_fields=("number",), filter_fields=("state", "client_id", "vehicle_id", "service_order_id"),
    sort_fields=("id", "number", "created_at", "closed_at", "total"),
    list_columns=("number", "state", "client_name", "car_title", "total"),
)

# Estimate:  draft --send--> sent --accept--> accepted --convert--> converted (a work order)
#            decline from draft/sent; convert also straight from draft or sent (the client agrees on the spot)
ESTIMATE_WORKFLOW = Workflow(
    initial="draft",
    states={
        "draft": State("draft", _l("Draft")),
        "sent": State("sent", _l("Sent to the client")),
        "accepted": State("accepted", _l("Accepted by the client")),
        "declined": State("declined", _l("Declined by the client"), immutable=True, final=True),
        "converted": State("converted", _l("Work order made"), immutable=True, final=True),
    },
    transitions={
        "send": Transition("send", _l("Send to the client"), ("draft",), "sent", permission=f"{EST}.update", order=10),
        "accept": Transition("accept", _l("Client accepts"), ("draft", "sent"), "accepted",
                             permission=f"{EST}.update", order=20),
        "decline": Transition("decline", _l("Client declines"), ("draft", "sent", "accepted"), "declined",
                              permission=f"{EST}.update", order=30),
        "convert": Transition("convert", _l("Make a work order"), ("draft", "sent", "accepted"), "converted",
                              permission=f"{WO}.create", order=40),
    },
)

# Diagnostic act:  draft --complete--> completed --convert--> converted (a work order)
DIAGNOSTIC_ACT_WORKFLOW = Workflow(
    initial="draft",
    states={
        "draft": State("draft", _l("Draft")),
        "completed": State("completed", _l("Completed")),
        "converted": State("converted", _l("Work order made"), immutable=True, final=True),
    },
    transitions={
        "complete": Transition("complete", _l("Complete the diagnosis"), ("draft",), "completed",
                               permission=f"{DA}.update", order=10),
        "convert": Transition("convert", _l("Make a work order"), ("completed",), "converted",
                              permission=f"{WO}.create", order=20),
    },
)

ESTIMATE = DocumentType(
    key=EST, plugin="workshop", resource="estimates", model=Estimate, schema=EstimateSchema,
    title=_l("Estimates"), workflow=ESTIMATE_WORKFLOW, number_prefix="EST", feature=FEATURE,
    print_templates={"default": "workshop/print/estimate.html"}, print_renderer=render_tenant_print,
    search_fields=("number",),
    filter_fields=("state", "client_id", "vehicle_id"), sort_fields=("id", "number", "created_at", "total"),
    list_columns=("number", "state", "client_name", "car_title", "total"),
)

DIAGNOSTIC_ACT = DocumentType(
    key=DA, plugin="workshop", resource="diagnostic-acts", model=DiagnosticAct, schema=DiagnosticActSchema,
    title=_l("Diagnostic acts"), workflow=DIAGNOSTIC_ACT_WORKFLOW, number_prefix="DA", feature=FEATURE,
    print_templates={"default": "workshop/print/diagnostic_act.html"}, print_renderer=render_tenant_print,
    search_fields=("number",),
    filter_fields=("state", "client_id", "vehicle_id", "service_order_id"), sort_fields=("id", "number", "created_at"),
    list_columns=("number", "state", "client_name", "car_title", "conclusion"),
)
