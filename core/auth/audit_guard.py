"""The second half of the audit log's append-only guard: :mod:`core.audit` refuses changed or deleted
rows at flush; this refuses bulk ``UPDATE``/``DELETE`` statements on the log, which never flush."""
from __future__ import annotations

from sqlalchemy import event

from ..audit import AuditImmutable, AuditLog, OperatorLog
from ..db import GarageSession


@event.listens_for(GarageSession, "do_orm_execute")
def _refuse_bulk_changes(state):
    if not (state.is_update or state.is_delete):
        return
    if any(m is not None and issubclass(m.class_, (AuditLog, OperatorLog)) for m in state.all_mappers):
        raise AuditImmutable("audit rows cannot be changed or deleted")
