"""A third-party plugin standing in for the warehouse: it vetoes closing a work order while approved
parts lines have not been issued from stock (``validate_transition``), writes the parts off in the
closing transaction (``after_transition``: an audit row per line here, stock movements in the real
warehouse) and hears the committed close (``on_event``). Only the core's document hooks are used:
the extension point the warehouse and finance plugins attach to."""
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="ws_gate_test", version="1.0", title="Parts issue gate (test)",
                    features={"ws_gate_test.use": "Parts issued before closing (test)"}, requires=("workshop",))

ISSUED: set[int] = set()  # part line ids issued from stock (the warehouse's ledger, a set here)
EVENTS: list[tuple[str, int]] = []  # (event name, work order id) heard after commit


def _unissued(order):
    return [line for line in order.part_lines if line.decision == "approved" and line.id not in ISSUED]


@hookimpl
def validate_transition(document, transition, actor):
    from plugins.workshop.models import WorkOrder

    if isinstance(document, WorkOrder) and transition.name == "close":
        missing = _unissued(document)
        if missing:
            return "Parts not issued from stock: " + ", ".join(line.name for line in missing)
    return None


@hookimpl
def after_transition(document, transition, actor):
    from core import audit
    from plugins.workshop.models import WorkOrder

    if isinstance(document, WorkOrder) and transition.name == "close":
        for line in document.part_lines:
            if line.decision == "approved":
                audit.record("write_off", line, user=actor, changes={"quantity": [None, str(line.quantity)]})


@hookimpl
def on_event(event):
    if event.name.startswith("workshop.work_order."):
        EVENTS.append((event.name, event.payload.get("id")))
