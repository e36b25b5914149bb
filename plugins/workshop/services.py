"""Workshop services: lines, payers and shares, client decisions, totals, and what closing an order
does (recommendations done, mileage recorded, the service order closed).

Every mutating service runs for the current tenant, checks that the order is editable
(:func:`core.documents.ensure_editable`), writes its audit rows and leaves the commit to the caller,
which commits once (:func:`core.events.commit`): one request, one transaction. The order's row is
locked first (``SELECT ... FOR UPDATE``) and its version bumped by every line change, so a client
holding an older version of the order gets a 409 on its next save.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from core import audit
from core.db import db
from core.documents import ensure_editable, tenant_now
from core.i18n import domain
from core.models import utcnow

from . import money
from .models import LaborLine, LineShare, PartLine, Payer, ServiceOrder, WorkOrder

_ = domain("workshop").gettext
_l = domain("workshop").lazy_gettext

COUNTED = ("pending", "approved")  # declined and deferred lines are shown but not charged
LINE_MODELS = {"labor": LaborLine, "part": PartLine}


class WorkshopError(Exception):
    """A request that cannot be carried out: ``status`` (HTTP), ``message``, optional per-field errors."""

    def __init__(self, message: Any, status: int = 422, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.fields = fields or {}


# --- loading ----------------------------------------------------------------------------------------


def lock_order(order_id: int) -> WorkOrder:
    """The work order, its row locked until the transaction ends; 404 across tenants."""
    order = db.session.execute(
        select(WorkOrder).where(WorkOrder.id == order_id).with_for_update()
    ).scalar_one_or_none()
    if order is None:
        raise WorkshopError(_("Not found"), 404)
    return order


def get_line(order: WorkOrder, kind: str, line_id: int):
    lines = order.labor_lines if kind == "labor" else order.part_lines
    for line in lines:
        if line.id == line_id:
            return line
    raise WorkshopError(_("Not found"), 404)


def _touch(order: WorkOrder) -> None:
    """Bump the order's version even when its totals did not change: its lines did."""
    order.updated_at = utcnow()


# --- totals -----------------------------------------------------------------------------------------


@dataclass
class PayerTotal:
    key: int | None  # the Payer row's id; None for the order's client
    kind: str
    counterparty_id: int | None
    name: str | None
    claim_number: str | None = None
    lines: Decimal = money.ZERO  # what the payer's shares of the lines add up to
    excess: Decimal = money.ZERO  # + the client takes an insurer's excess; - the insurer gives it
    net: Decimal = money.ZERO
    vat: Decimal = money.ZERO
    total: Decimal = money.ZERO

    def as_json(self) -> dict:
        return {"payer_id": self.key, "kind": self.kind, "counterparty_id": self.counterparty_id, "name": self.name,
                "claim_number": self.claim_number, "lines": str(self.lines), "excess": str(self.excess),
                "net": str(self.net), "vat": str(self.vat), "total": str(self.total)}


@dataclass
class Totals:
    vat_mode: str
    vat_rate: Decimal
    labor: Decimal = money.ZERO
    parts: Decimal = money.ZERO
    discount: Decimal = money.ZERO
    pending: Decimal = money.ZERO  # lines still waiting for the client's decision (included above)
    declined: Decimal = money.ZERO  # declined or deferred lines (not charged)
    net: Decimal = money.ZERO
    vat: Decimal = money.ZERO
    total: Decimal = money.ZERO
    payers: list[PayerTotal] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"vat_mode": self.vat_mode, "vat_rate": str(self.vat_rate), "labor": str(self.labor),
                "parts": str(self.parts), "discount": str(self.discount), "pending": str(self.pending),
                "declined": str(self.declined), "net": str(self.net), "vat": str(self.vat), "total": str(self.total),
                "payers": [p.as_json() for p in self.payers]}


def _default_payer(order: WorkOrder) -> int | None:
    return next((p.id for p in order.payers if p.is_default), None)


def _line_split(order: WorkOrder, line) -> list[tuple[int | None, Decimal]]:
    shares = [money.Share(s.payer_id, s.percent, s.amount) for s in line.shares]
    try:
        return money.split_line(line.amount, shares, _default_payer(order))
    except money.SplitError:
        raise WorkshopError(_("The shares of line \u201c%(line)s\u201d do not fit its amount %(amount)s: fixed "
                              "shares may not exceed it and percentages must add up to 100.",
                              line=line.name, amount=line.amount), fields={"shares": [str(line.id)]}) from None


def recalculate(order: WorkOrder) -> Totals:
    """Recompute every line's amounts and shares and the order's stored totals; return the totals."""
    for line in order.labor_lines:
        line.gross = money.labor_gross(line.hours, line.rate, line.fixed_price)
    for line in order.part_lines:
        line.gross = money.part_gross(line.quantity, line.price)
    for line in [*order.labor_lines, *order.part_lines]:
        line.discount, line.amount = money.discounted(line.gross, line.discount_percent, line.discount_amount)
        by_share = _line_split(order, line)
        for share, (_payer, amount) in zip(line.shares, by_share):
            share.share_amount = amount
    result = totals(order)
    order.total, order.vat_total = result.total, result.vat
    return result


def totals(order: WorkOrder) -> Totals:
    """Totals per line kind, per payer and overall, from the lines' stored amounts."""
    result = Totals(order.vat_mode or "none", order.vat_rate or Decimal("0"))
    client_key = None
    per_payer: dict[int | None, Decimal] = {client_key: money.ZERO}
    for payer in order.payers:
        per_payer[payer.id] = money.ZERO
    for kind, lines in (("labor", order.labor_lines), ("part", order.part_lines)):
        for line in lines:
            if (line.decision or "pending") not in COUNTED:
                result.declined += line.amount
                continue
            if line.decision == "pending":
                result.pending += line.amount
            if kind == "labor":
                result.labor += line.amount
            else:
                result.parts += line.amount
            result.discount += line.discount
            for payer, amount in _line_split(order, line):
                per_payer[payer] = per_payer.get(payer, money.ZERO) + amount
    excesses = {p.id: p.excess for p in order.payers if p.kind == "insurer" and p.excess}
    after, moved = money.apply_excess(per_payer, excesses, client_key)
    rows = [PayerTotal(None, "client", order.client_id, _client_name(order.client_id))]
    rows += [PayerTotal(p.id, p.kind, p.counterparty_id, p.counterparty.name if p.counterparty else None,
                        p.claim_number) for p in order.payers]
    for row in rows:
        row.lines = per_payer.get(row.key, money.ZERO)
        row.excess = -moved.get(row.key, money.ZERO) if row.key is not None else sum(moved.values(), money.ZERO)
        row.net, row.vat, row.total = money.vat(after.get(row.key, money.ZERO), result.vat_mode, result.vat_rate)
        result.net += row.net
        result.vat += row.vat
        result.total += row.total
    result.payers = rows
    return result


def _client_name(client_id: int | None) -> str | None:
    from plugins.crm.models import Client

    client = db.session.get(Client, client_id) if client_id else None
    return client.name if client else None


# --- lines ------------------------------------------------------------------------------------------


def check_line_refs(order: WorkOrder, kind: str, values: dict) -> None:
    from plugins.crm.models import Recommendation

    if kind == "labor" and values.get("recommendation_id"):
        rec = db.session.get(Recommendation, values["recommendation_id"])
        if rec is None or rec.vehicle_id != order.vehicle_id:
            raise WorkshopError(_("No such recommendation for this car."),
                                fields={"recommendation_id": [_("No such recommendation for this car.")]})
        values.setdefault("name", rec.job or rec.text[:300])
    if kind == "part" and values.get("labor_line_id"):
        if not any(line.id == values["labor_line_id"] for line in order.labor_lines):
            raise WorkshopError(_("No such job in this order."), fields={"labor_line_id": [_("No such job in this order.")]})


def add_line(order: WorkOrder, kind: str, values: dict, user, *, with_job_parts: bool = False) -> Any:
    """Add a line; ``with_job_parts``: a job from the catalog also brings its usual parts (linked to it)."""
    ensure_editable(order)
    check_line_refs(order, kind, values)
    if not values.get("name"):
        raise WorkshopError(_("Enter a name."), fields={"name": [_("Missing data for required field.")]})
    model = LINE_MODELS[kind]
    lines = order.labor_lines if kind == "labor" else order.part_lines
    values.setdefault("position", max((line.position for line in lines), default=0) + 1)
    if kind == "labor":
        assignee(values)
    line = model(decision="pending", **values)
    line.tenant_id = order.tenant_id
    lines.append(line)
    recalculate(order)
    _touch(order)
    db.session.flush()
    if kind == "labor":
        from .comebacks import detect

        detect(order, line)
        if line.comeback_of_order_id:
            values = {**values, "comeback_of_order_id": line.comeback_of_order_id,
                      "comeback_of_line_id": line.comeback_of_line_id,
                      "comeback_technician_id": line.comeback_technician_id,
                      "comeback_employee_id": line.comeback_employee_id}
    audit.record("create", line, user=user, changes={"work_order_id": [None, order.id],
                                                      **{k: [None, v] for k, v in values.items()}})
    if with_job_parts and kind == "labor" and values.get("job_id"):
        from .models import Job

        for part in db.session.get(Job, values["job_id"]).parts or []:
            add_line(order, "part", {"name": part["name"], "code": part.get("code"), "unit": part.get("unit"),
                                     "quantity": _dec(part.get("quantity")) or Decimal(1),
                                     "price": _dec(part.get("price")) or Decimal(0), "labor_line_id": line.id}, user)
    return line


def update_line(order: WorkOrder, kind: str, line, values: dict, user) -> Any:
    ensure_editable(order)
    check_line_refs(order, kind, values)
    if kind == "labor":
        assignee(values)
    before = {k: getattr(line, k) for k in values}
    for key, value in values.items():
        setattr(line, key, value)
    if kind == "labor" and {"job_id", "rework"} & set(values):
        from .comebacks import detect

        links = ("comeback_of_order_id", "comeback_of_line_id", "comeback_technician_id", "comeback_employee_id")
        before.update({k: getattr(line, k) for k in links})
        detect(order, line)
        values = {**values, **{k: getattr(line, k) for k in links}}
    recalculate(order)
    _touch(order)
    changes = audit.diff(before, values)
    if changes:
        audit.record("update", line, user=user, changes=changes)
    db.session.flush()
    return line


def delete_line(order: WorkOrder, kind: str, line, user) -> None:
    ensure_editable(order)
    if kind == "labor":
        for part in order.part_lines:
            if part.labor_line_id == line.id:
                part.labor_line_id = None
        order.labor_lines.remove(line)
    else:
        order.part_lines.remove(line)
    audit.record("delete", line, user=user, changes={"name": [line.name, None], "amount": [line.amount, None]})
    recalculate(order)
    _touch(order)
    db.session.flush()


def assignee(values: dict) -> None:
    """Keep a job line's employee and user together: an employee with a login brings his user
    (``technician_id``), a user brings his employee card (the active, newest one), either brings the
    name; clearing one clears the other. Both given and not the same person: 422."""
    from .staff import Employee

    given_user = "technician_id" in values
    if not ("employee_id" in values or given_user):
        return
    employee_id, user_id = values.get("employee_id"), values.get("technician_id")
    if employee_id:
        employee = db.session.get(Employee, employee_id)
        if given_user and user_id and employee.user_id != user_id:
            message = _("This employee is not that user.")
            raise WorkshopError(message, fields={"employee_id": [message]})
        values["technician_id"] = employee.user_id
        values.setdefault("technician_name", employee.name)
    elif user_id:
        values["employee_id"] = db.session.scalar(select(Employee.id).where(
            Employee.user_id == user_id).order_by(Employee.active.desc(), Employee.id.desc()).limit(1))
        if not values.get("technician_name"):
            employee_name = db.session.get(Employee, values["employee_id"]).name if values["employee_id"] else None
            values["technician_name"] = employee_name or _user_name(user_id)
    else:  # cleared
        values["employee_id"] = values["technician_id"] = None
        values.setdefault("technician_name", None)


def assigned_to(user):
    """The condition "this job line is ``user``'s": his user id on the line, or one of his employee cards."""
    from .staff import Employee

    return (LaborLine.technician_id == user.id) | LaborLine.employee_id.in_(
        select(Employee.id).where(Employee.user_id == user.id))


def _user_name(user_id: int) -> str | None:
    from core.models import User

    u = db.session.get(User, user_id)
    return (u.name or u.email) if u else None


# --- payers and shares ------------------------------------------------------------------------------


def set_payers(order: WorkOrder, payers: list[dict], user) -> list[Payer]:
    """Replace the order's payers (besides the client). Shares of removed payers go with them."""
    ensure_editable(order)
    if sum(1 for p in payers if p.get("is_default")) > 1:
        raise WorkshopError(_("Only one payer can be the default."), fields={"is_default": [_("Only one payer can be the default.")]})
    keep_ids = {p["id"] for p in payers if p.get("id")}
    before = [{"kind": p.kind, "counterparty_id": p.counterparty_id, "excess": p.excess} for p in order.payers]
    existing = {p.id: p for p in order.payers}
    unknown = keep_ids - set(existing)
    if unknown:
        raise WorkshopError(_("No such payer in this order."), fields={"id": [str(i) for i in sorted(unknown)]})
    for payer in list(order.payers):
        if payer.id not in keep_ids:
            for line in [*order.labor_lines, *order.part_lines]:
                line.shares = [s for s in line.shares if s.payer_id != payer.id]
            order.payers.remove(payer)
    for position, data in enumerate(payers):
        data = dict(data)
        payer = existing.get(data.pop("id", None)) if data.get("id") else None
        if payer is None:
            payer = Payer(tenant_id=order.tenant_id)
            order.payers.append(payer)
        for key, value in data.items():
            setattr(payer, key, value)
        payer.position = position
    db.session.flush()
    recalculate(order)
    _touch(order)
    audit.record("update", order, user=user, changes={"payers": [before, [
        {"kind": p.kind, "counterparty_id": p.counterparty_id, "excess": p.excess} for p in order.payers]]})
    db.session.flush()
    return list(order.payers)


def set_shares(order: WorkOrder, kind: str, line, shares: list[dict], user) -> Any:
    """Replace how ``line`` is shared between payers (empty: wholly the default payer's)."""
    ensure_editable(order)
    payer_ids = {p.id for p in order.payers}
    for i, share in enumerate(shares):
        if share.get("payer_id") is not None and share["payer_id"] not in payer_ids:
            raise WorkshopError(_("No such payer in this order."), fields={str(i): {"payer_id": [_("No such payer in this order.")]}})
    if sum(1 for s in shares if s.get("percent") is not None) and \
            sum(Decimal(s["percent"]) for s in shares if s.get("percent") is not None) != 100:
        raise WorkshopError(_("The percentages must add up to 100."), fields={"percent": [_("The percentages must add up to 100.")]})
    before = [{"payer_id": s.payer_id, "percent": s.percent, "amount": s.amount} for s in line.shares]
    column = "labor_line_id" if kind == "labor" else "part_line_id"
    line.shares = [LineShare(tenant_id=order.tenant_id, work_order_id=order.id, position=i,
                             payer_id=s.get("payer_id"), percent=s.get("percent"), amount=s.get("amount"),
                             **{column: line.id})
                   for i, s in enumerate(shares)]
    recalculate(order)
    _touch(order)
    audit.record("update", line, user=user, changes={"shares": [before, [
        {"payer_id": s.get("payer_id"), "percent": s.get("percent"), "amount": s.get("amount")} for s in shares]]})
    db.session.flush()
    return line


# --- client decisions -------------------------------------------------------------------------------


def record_decisions(order: WorkOrder, data: dict, user) -> list:
    """Record the client's decision per line (who, when, how). A declined or deferred job becomes a
    CRM recommendation for the car (declined: kept with its date; deferred: open for next time);
    deciding "approved" after all withdraws the recommendation this order made. A job's parts follow
    the job's decision."""
    ensure_editable(order)
    at = data.get("at") or utcnow()
    changed = []
    for item in data["decisions"]:
        line = get_line(order, item["kind"], item["line_id"])
        lines = [line]
        if item["kind"] == "labor":
            lines += [p for p in order.part_lines if p.labor_line_id == line.id]
        for target in lines:
            before = {"decision": target.decision, "decided_by": target.decided_by}
            target.decision = item["decision"]
            target.decided_by = data["by"]
            target.decided_at = at
            target.decision_channel = data.get("channel")
            target.decision_note = item.get("note")
            audit.record("decision", target, user=user, changes=audit.diff(before, {
                "decision": target.decision, "decided_by": target.decided_by}) | {
                "channel": [None, target.decision_channel]})
            changed.append(target)
        if item["kind"] == "labor":
            _follow_up(order, line, item, user)
    recalculate(order)
    _touch(order)
    db.session.flush()
    return changed


def _follow_up(order: WorkOrder, line: LaborLine, item: dict, user) -> None:
    """Keep the car's CRM recommendations in step with the decision on job ``line``."""
    from plugins.crm.models import Recommendation
    from plugins.crm.services import decide_recommendation

    decision = line.decision

    def move(rec, state):
        if rec.state == state:
            return
        if state == "declined" and rec.state not in ("open",):
            decide_recommendation(rec, "open", user)  # declined again after a dismissal: reopen first
        decide_recommendation(rec, state, user)

    if line.recommendation_id:  # the job came from an earlier recommendation: that one follows
        rec = db.session.get(Recommendation, line.recommendation_id)
        if rec is not None and decision == "declined" and rec.state != "declined":
            move(rec, "declined")
        return
    rec = db.session.get(Recommendation, line.made_recommendation_id) if line.made_recommendation_id else None
    if decision == "approved":
        if rec is not None and rec.state in ("open", "declined"):
            decide_recommendation(rec, "dismissed", user)
        return
    if rec is None:
        parts = [p.name for p in order.part_lines if p.labor_line_id == line.id]
        text = line.name if not item.get("note") else f"{line.name}: {item['note']}"
        rec = Recommendation(vehicle_id=order.vehicle_id, text=text, job=line.name[:200], parts=parts,
                             urgency=item.get("urgency") or "normal", source="visit", state="open",
                             created_by_id=getattr(user, "id", None))
        db.session.add(rec)
        db.session.flush()
        audit.record("create", rec, user=user, changes={
            "vehicle_id": [None, rec.vehicle_id], "text": [None, rec.text], "state": [None, "open"],
            "from_work_order": [None, order.number]})
        line.made_recommendation_id = rec.id
        if decision == "declined":
            decide_recommendation(rec, "declined", user)
        return
    move(rec, "declined" if decision == "declined" else "open")


# --- workflow guards and reactions ------------------------------------------------------------------


def lines_of(order: WorkOrder) -> list:
    return [*order.labor_lines, *order.part_lines]


def unpriced(line) -> bool:
    """A job line that bills nothing for its hours: no rate and no fixed price (the shop has no labour
    rate for it, and none was typed). A rate or a fixed price typed as 0 is a deliberate free job."""
    return line.rate is None and line.fixed_price is None and (line.hours or 0) > 0


def unpriced_lines(order: WorkOrder) -> list:
    return [line for line in order.labor_lines if line.decision != "declined" and unpriced(line)]


def _unpriced_veto(order: WorkOrder) -> list:
    """Approving or closing an order with unpriced hours would under-bill: refused, with the fix."""
    names = [line.name for line in unpriced_lines(order)]
    if names:
        return [_l("No labour rate for: %(lines)s. Set one in Labour rates or type a price.", lines=", ".join(names))]
    return []


def reprice_lines(order: WorkOrder, user) -> list:
    """The unpriced job lines (no rate, no fixed price: nothing typed by hand) priced again from the
    catalog and the labour rates, e.g. after the shop set its first rate. Lines with a price stay."""
    from .models import Job

    changed = []
    for line in [line for line in order.labor_lines if line.rate is None and line.fixed_price is None]:
        job = db.session.get(Job, line.job_id) if line.job_id else None
        values: dict = {}
        if job is not None and job.fixed_price is not None:
            values["fixed_price"] = job.fixed_price
        else:
            from core.tenancy import current_tenant

            if current_tenant().has("workshop.norms"):
                from .norms import rate_for

                rate, discount = rate_for(job.category if job else None, order.client_id)
                if rate is not None:
                    values["rate"] = rate
                if discount and line.discount_percent is None and not line.discount_amount:
                    values["discount_percent"] = discount
        if values:
            update_line(order, "labor", line, values, user)
            changed.append(line)
    return changed


def guard_approve(order: WorkOrder, actor) -> list:
    lines = lines_of(order)
    vetoes = _unpriced_veto(order)
    if not lines:
        vetoes.append(_l("Add at least one job or part first."))
    elif not any(line.decision == "approved" for line in lines):
        vetoes.append(_l("The client has approved no line yet."))
    pending = [line.name for line in lines if line.decision == "pending"]
    if pending:
        vetoes.append(_l("Record the client's decision on: %(lines)s.", lines=", ".join(pending)))
    return vetoes


def guard_close(order: WorkOrder, actor) -> list:
    vetoes = _unpriced_veto(order)
    pending = [line.name for line in lines_of(order) if line.decision == "pending"]
    if pending:
        vetoes.append(_l("Record the client's decision on: %(lines)s.", lines=", ".join(pending)))
    return vetoes


def on_work_order_closing(order: WorkOrder, actor) -> None:
    """Inside the close transition: the recommendations the order carried out leave the car's list,
    the mileage goes into the car's history, the order gets its closing time.

    The order itself is changed last and not flushed here: the engine's own UPDATE (with the version
    check) must be the first write to the order's row, so that of two parallel closes the loser
    fails as a stale document (409) rather than inside this hook.
    """
    from plugins.crm.models import Recommendation, Vehicle
    from plugins.crm.services import add_reading, decide_recommendation

    for line in order.labor_lines:
        if line.recommendation_id and line.decision == "approved":
            rec = db.session.get(Recommendation, line.recommendation_id)
            if rec is not None and rec.state in ("open", "declined"):
                decide_recommendation(rec, "accepted", actor)
    so = db.session.get(ServiceOrder, order.service_order_id) if order.service_order_id else None
    recorded_at_intake = so is not None and so.odometer is not None and so.state != "draft"
    if order.odometer and not (recorded_at_intake and so.odometer == order.odometer):
        vehicle = db.session.get(Vehicle, order.vehicle_id)
        add_reading(vehicle, order.odometer, tenant_now().date(), source="work_order", user=actor)
    from .due import record_done_on_close

    record_done_on_close(order, actor)  # maintenance carried out: the CRM's reminders start again
    order.closed_at = utcnow()


def close_service_order_after(order: WorkOrder) -> None:
    """After the close: the service order the car came in with is done too (when nothing else of it
    is still open). One still in draft (made from a booking in one click, the car never formally
    received) is received first, then closed."""
    from core.documents import transition

    if not order.service_order_id:
        return
    so = db.session.get(ServiceOrder, order.service_order_id)
    if so is None or so.state not in ("draft", "accepted"):
        return
    still_open = db.session.execute(select(WorkOrder.id).where(
        WorkOrder.service_order_id == so.id, WorkOrder.id != order.id,
        WorkOrder.state.notin_(("closed", "cancelled", "void")))).first()
    if still_open is None:
        if so.state == "draft":
            # The close has just put this mileage into the car's history: do not add it twice.
            so.intake_mileage_recorded = so.odometer is not None and so.odometer == order.odometer
            transition(so, "accept", None, comment=order.number, commit=False)
        transition(so, "close", None, comment=order.number, commit=False)


def on_service_order_accepting(so: ServiceOrder, actor) -> None:
    """The car is received: stamp the time and put the intake mileage into the car's history."""
    from plugins.crm.models import Vehicle
    from plugins.crm.services import add_reading

    received_at = so.received_at or utcnow()
    if so.odometer is not None and not getattr(so, "intake_mileage_recorded", False):
        vehicle = db.session.get(Vehicle, so.vehicle_id)
        add_reading(vehicle, so.odometer, tenant_now(received_at).date(), source="intake", user=actor)
    so.received_at = received_at  # last, unflushed: the engine's versioned UPDATE writes it


# --- the CRM's service book and last visits ---------------------------------------------------------


def service_book_entries(vehicle_id: int) -> list[dict]:
    """Closed work orders of the car as service-book entries (the CRM's ``crm_service_book_entries``)."""
    orders = db.session.scalars(select(WorkOrder).where(
        WorkOrder.vehicle_id == vehicle_id, WorkOrder.state == "closed").order_by(WorkOrder.closed_at))
    entries = []
    for order in orders:
        done = [line for line in order.labor_lines if line.decision == "approved"]
        parts = [p for p in order.part_lines if p.decision == "approved"]
        technicians = sorted({line.technician_name for line in done if line.technician_name})
        entries.append({
            "date": tenant_now(order.closed_at).date() if order.closed_at else None,
            "mileage": order.odometer,
            "work": [line.name for line in done],
            "parts": [f"{p.name} × {_qty(p.quantity)}" + (f" {p.unit}" if p.unit else "") for p in parts],
            "performed_by": ", ".join(technicians) or None,
            "amount": order.total,
            "source": "workshop.work_order",
            "reference": {"resource": "work-orders", "id": order.id, "number": order.number},
        })
    return entries


def _qty(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")  # 4.500 -> "4.5", 1.000 -> "1"


def last_visits(vehicle_ids: list[int]) -> dict[int, dict]:
    rows = db.session.execute(select(WorkOrder.vehicle_id, WorkOrder.closed_at, WorkOrder.odometer, WorkOrder.id,
                                     WorkOrder.number)
                              .where(WorkOrder.vehicle_id.in_(vehicle_ids), WorkOrder.state == "closed")
                              .order_by(WorkOrder.closed_at))
    out: dict[int, dict] = {}
    for vehicle_id, closed_at, odometer, order_id, number in rows:
        out[vehicle_id] = {"date": tenant_now(closed_at).date() if closed_at else None, "mileage": odometer,
                           "reference": {"resource": "work-orders", "id": order_id, "number": number}}
    return out


def visits_until(date_to) -> list[dict]:
    """Closed work orders up to ``date_to`` (a date in the shop's time zone), in one query, for the
    CRM's reports (``crm_visits`` hook): who came, when, and what the order earned."""
    from datetime import datetime, time, timedelta, timezone

    zone = tenant_now().tzinfo
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone).astimezone(timezone.utc)
    from sqlalchemy import func

    closed = (WorkOrder.state == "closed", WorkOrder.closed_at < end)
    rows = db.session.execute(select(WorkOrder.id, WorkOrder.client_id, WorkOrder.closed_at, WorkOrder.total,
                                     WorkOrder.advisor_id).where(*closed))
    # Labour and parts of each order (lines the client did not decline), one grouped query per kind.
    sums: dict[int, dict] = {}
    for model, key in ((LaborLine, "labour"), (PartLine, "parts")):
        for order_id, amount in db.session.execute(
                select(model.work_order_id, func.sum(model.amount)).join(WorkOrder, WorkOrder.id == model.work_order_id)
                .where(*closed, model.decision.in_(COUNTED)).group_by(model.work_order_id)):
            sums.setdefault(order_id, {})[key] = amount
    # The jobs done and who did them (the CRM's client filters), one query: the order's counted lines.
    work: dict[int, tuple[list, list]] = {}
    for order_id, name, technician in db.session.execute(
            select(LaborLine.work_order_id, LaborLine.name, LaborLine.technician_name)
            .join(WorkOrder, WorkOrder.id == LaborLine.work_order_id)
            .where(*closed, LaborLine.decision.in_(COUNTED)).order_by(LaborLine.work_order_id, LaborLine.id)):
        jobs, technicians = work.setdefault(order_id, ([], []))
        if name and name not in jobs:
            jobs.append(name)
        if technician and technician not in technicians:
            technicians.append(technician)
    visits = []
    for order_id, client_id, closed_at, total, advisor_id in rows:
        if closed_at.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
            closed_at = closed_at.replace(tzinfo=timezone.utc)
        parts = sums.get(order_id, {})
        visits.append({"client_id": client_id, "date": closed_at.astimezone(zone).date(), "amount": total,
                       "booked": False, "advisor_id": advisor_id,
                       "labour": parts.get("labour", Decimal("0")), "parts": parts.get("parts", Decimal("0")),
                       "jobs": work.get(order_id, ([], []))[0], "technicians": work.get(order_id, ([], []))[1]})
    return visits


def repoint_client(target_id: int, source_id: int) -> dict:
    """The CRM merges two clients: our documents follow. A bulk UPDATE, deliberately: closed orders are
    immutable for edits, but the client they point at is about to disappear."""
    from sqlalchemy import update

    moved = {}
    for model, column in ((ServiceOrder, "client_id"), (WorkOrder, "client_id"), (Payer, "counterparty_id")):
        col = getattr(model, column)
        res = db.session.execute(update(model).where(col == source_id).values({column: target_id})
                                 .execution_options(synchronize_session="fetch"))
        moved[f"{model.__tablename__}.{column}"] = res.rowcount or 0
    return moved


# --- estimates and diagnostic acts -> work orders ---------------------------------------------------


def _dec(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def estimate_items(items: list[dict]) -> list[dict]:
    """The quote's lines with Decimal values and each line's ``amount`` (the same rules as an order's)."""
    out = []
    for raw in items or []:
        item = dict(raw)
        for key in ("hours", "rate", "fixed_price", "quantity", "price", "discount_percent"):
            item[key] = _dec(item.get(key))
        if item.get("kind", "labor") == "labor":
            gross = money.labor_gross(item["hours"], item["rate"], item["fixed_price"])
        else:
            gross = money.part_gross(item["quantity"] if item["quantity"] is not None else 1, item["price"])
        item["amount"] = money.discounted(gross, item["discount_percent"])[1]
        out.append(item)
    return out


def price_labor_line(order: WorkOrder, values: dict, given: set[str]) -> dict:
    """With ``workshop.norms``: the same norm and rate lookup as a line added by hand (the car's norm
    unless hours were given, the client's contract or the category's or the shop's rate unless a rate
    or a fixed price was given). Without it the line keeps what it was given."""
    from core.tenancy import current_tenant

    if current_tenant().has("workshop.norms"):
        from .norms import apply_to_labor_line

        apply_to_labor_line(order, values, given)
    return values


def catalog_jobs_by_text(texts: list[str]) -> dict[str, Any]:
    """``{text: Job}`` for the texts that name an active catalog job by its name or code (compared
    case-insensitively in Python: SQLite's lower() leaves Cyrillic as it is). One query."""
    from .models import Job

    wanted = {t.strip().casefold(): t for t in texts if t and t.strip()}
    if not wanted:
        return {}
    found: dict[str, Any] = {}
    for job in db.session.scalars(select(Job).where(Job.active.is_(True)).order_by(Job.id)):
        for key in (job.name.strip().casefold(), (job.code or "").strip().casefold()):
            if key in wanted and wanted[key] not in found:
                found[wanted[key]] = job
    return found


def _words(text: str) -> list[str]:
    import re

    return [w for w in re.split(r"[^\w]+", text.casefold()) if len(w) >= 3 and not w.isdigit()]


def _same_word(a: str, b: str) -> bool:
    """Two forms of one word ("развал" / "развала", "ремень" / "ремня", "заменить" / "замена"): a common
    beginning of all but the last three letters of the shorter one (at least three letters)."""
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    return common >= max(3, min(len(a), len(b)) - 3)


def catalog_job_like(text: str):
    """The active catalog job a free text most likely means (a CRM recommendation "Развал-схождение" ->
    "Регулировка развала-схождения"): the exact name or code first, else the job sharing the most words
    (in any grammatical form) with the text, when most of the job's words and at least half of the
    text's words match. None when nothing is close enough."""
    from .models import Job

    exact = catalog_jobs_by_text([text]).get(text)
    if exact is not None:
        return exact
    wanted = _words(text)
    if not wanted:
        return None
    best, best_score = None, Decimal(0)
    for job in db.session.scalars(select(Job).where(Job.active.is_(True)).order_by(Job.id)):
        words = _words(job.name)
        if not words:
            continue
        in_job = sum(1 for w in words if any(_same_word(w, t) for t in wanted))
        in_text = sum(1 for t in wanted if any(_same_word(w, t) for w in words))
        of_job, of_text = Decimal(in_job) / len(words), Decimal(in_text) / len(wanted)
        if of_job > Decimal("0.5") and of_text >= Decimal("0.5") and of_job + of_text > best_score:
            best, best_score = job, of_job + of_text
    return best


def add_job_line(order: WorkOrder, text: str, user, *, loose: bool = False, **extra) -> LaborLine:
    """A pending job line for ``text``: the catalog job it names (its hours, fixed price and usual parts,
    priced as a line added by hand), else a free-text job. ``loose``: also a catalog job the text only
    resembles (a recommendation written in other words)."""
    from core.tenancy import current_tenant

    from .schemas import LaborLineSchema

    job = catalog_job_like(text) if loose else catalog_jobs_by_text([text]).get(text)
    values = LaborLineSchema().load({"name": job.name if job else text.strip()[:300],
                                     **({"job_id": job.id} if job else {}), **extra})
    price_labor_line(order, values, set())
    return add_line(order, "labor", values, user, with_job_parts=current_tenant().has("workshop.norms"))


def planned_jobs(order: WorkOrder) -> list[dict]:
    """The jobs planned on the order's service order (one a line: the planner's catalog picks or free
    text), each with its catalog job and whether the order has it already."""
    so = db.session.get(ServiceOrder, order.service_order_id) if order.service_order_id else None
    texts = [t.strip() for t in (so.planned_jobs or "").splitlines() if t.strip()] if so else []
    jobs = catalog_jobs_by_text(texts)
    names = {line.name.strip().casefold() for line in order.labor_lines}
    job_ids = {line.job_id for line in order.labor_lines if line.job_id}
    return [{"index": i, "text": text, "job": jobs.get(text),
             "on_order": text.casefold() in names or (jobs.get(text) is not None and (
                 jobs[text].id in job_ids or jobs[text].name.strip().casefold() in names))}
            for i, text in enumerate(texts)]


def add_planned_jobs(order: WorkOrder, user) -> list[LaborLine]:
    """The service order's planned jobs the order does not have yet, as pending job lines."""
    return [add_job_line(order, item["text"], user) for item in planned_jobs(order) if not item["on_order"]]


def _new_order(user, **fields) -> WorkOrder:
    from core.documents import create_document

    return create_document(WorkOrder, user, commit=False, **fields)


def convert_estimate(estimate, user) -> WorkOrder:
    """The client agreed to the quote: a work order with its lines (decisions still to record)."""
    from core.documents import transition

    if estimate.work_order_id:
        raise WorkshopError(_("This estimate is already a work order."), 409)
    order = _new_order(user, client_id=estimate.client_id, vehicle_id=estimate.vehicle_id,
                       odometer=estimate.odometer, complaint=estimate.complaint)
    for item in estimate_items(estimate.items):
        if item.get("kind", "labor") == "labor":
            values = {"name": item["name"], "job_id": item.get("job_id"), "hours": item["hours"] or Decimal(0),
                      "rate": item["rate"], "fixed_price": item["fixed_price"]}
            price_labor_line(order, values, {k for k in ("hours", "rate", "discount_percent") if item[k] is not None})
        else:
            values = {"name": item["name"], "code": item.get("code"), "unit": item.get("unit"),
                      "quantity": item["quantity"] or Decimal(1), "price": item["price"] or Decimal(0)}
        if item["discount_percent"] is not None or "discount_percent" not in values:
            values["discount_percent"] = item["discount_percent"]
        add_line(order, item.get("kind", "labor"), values, user)
    estimate.work_order_id = order.id  # written with the transition's versioned UPDATE
    transition(estimate, "convert", user, comment=order.number, commit=False)
    return order


def convert_diagnostic_act(act, user, rate: Decimal | None) -> WorkOrder:
    """The jobs the diagnosis calls for (attention and urgent findings with a job) become the lines of
    a new work order; the client then decides on each as usual (declined ones become recommendations)."""
    from core.documents import transition

    if act.work_order_id:
        raise WorkshopError(_("This diagnostic act is already a work order."), 409)
    order = _new_order(user, client_id=act.client_id, vehicle_id=act.vehicle_id, odometer=act.odometer,
                       service_order_id=act.service_order_id, complaint=act.conclusion)
    for finding in act.findings or []:
        if finding.get("status") in ("attention", "urgent") and finding.get("job"):
            values = {"name": finding["job"], "hours": _dec(finding.get("hours")) or Decimal(0),
                      "rate": rate, "fixed_price": _dec(finding.get("price"))}
            add_line(order, "labor", price_labor_line(order, values, {"hours"} | ({"rate"} if rate is not None else set())),
                     user)
    act.work_order_id = order.id
    transition(act, "convert", user, comment=order.number, commit=False)
    return order


# --- clocked time ----------------------------------------------------------------------------------


def clock(order: WorkOrder, line: LaborLine, action: str, user, at=None, subject=None):
    """Start or stop ``user``'s clock on job ``line`` (or the clock of ``subject``, a
    :class:`plugins.workshop.staff.Subject`: another employee's, run by a foreman). Starting stops the
    clock running on any other job of the same person (one job at a time). Only approved jobs of an
    order in progress."""
    from .models import TimeEntry
    from .staff import Subject

    at = at or utcnow()
    subject = subject or Subject(technician_id=user.id)
    running = db.session.scalars(select(TimeEntry).where(
        subject.where(), TimeEntry.kind == "job", TimeEntry.ended_at.is_(None))
        .with_for_update()).all()
    if action == "stop":
        mine = [e for e in running if e.labor_line_id == line.id]
        if not mine:
            if subject.technician_id == getattr(user, "id", None):
                raise WorkshopError(_("Your clock is not running on this job."), 409)
            raise WorkshopError(_("The clock is not running on this job."), 409)
        for entry in mine:
            entry.ended_at = at
            audit.record("clock_stop", entry, user=user, changes={"ended_at": [None, at]})
        db.session.flush()
        return mine[0]
    if order.state != "in_progress":
        raise WorkshopError(_("Start the work order first."), 409)
    if line.decision != "approved":
        raise WorkshopError(_("The client has not approved this job."), 409)
    for entry in running:
        if entry.labor_line_id == line.id:
            return entry  # already running: starting twice changes nothing
        entry.ended_at = at
        audit.record("clock_stop", entry, user=user, changes={"ended_at": [None, at]})
    entry = TimeEntry(tenant_id=order.tenant_id, kind="job", work_order_id=order.id, labor_line_id=line.id,
                      started_at=at, **subject.columns())
    db.session.add(entry)
    db.session.flush()
    audit.record("clock_start", entry, user=user, changes={"labor_line_id": [None, line.id], "started_at": [None, at],
                                                            **{k: [None, v] for k, v in subject.columns().items() if v}})
    return entry


CLOCK_STOPPING = ("wait", "finish", "close", "cancel", "void")  # no work on the order: no clock may run on


def stop_job_clocks(order: WorkOrder, actor, reason: str) -> list:
    """Inside a transition of ``order`` out of work: stop every job clock still running on it (anyone's,
    employees without a login too), each recorded, so a forgotten clock does not inflate job time."""
    from .models import TimeEntry

    at = utcnow()
    running = db.session.scalars(select(TimeEntry).where(
        TimeEntry.work_order_id == order.id, TimeEntry.kind == "job", TimeEntry.ended_at.is_(None))
        .with_for_update()).all()
    for entry in running:
        entry.ended_at = at
        audit.record("clock_stop", entry, user=actor, changes={"ended_at": [None, at], "by_transition": [None, reason]})
    return running


def productivity(since, until) -> list[dict]:
    """Per technician in ``[since, until)``: attended, clocked and sold hours and the KPIs
    (:func:`plugins.workshop.staff.productive_time`)."""
    from .staff import productive_time

    return productive_time(since, until)


def _aware(value):
    """SQLite hands back naive datetimes (stored as UTC)."""
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
