"""Merging two clients keeps everything of the source: its cars and also its messages, review answers,
tasks and mailing opt-outs (the tables' ON DELETE CASCADE would otherwise drop them with the source)."""
from sqlalchemy import func, select


def _make(c, name, phone, **extra):
    r = c.post("/api/v1/crm/clients", json={"name": name, "phones": [phone], "allow_duplicate": True, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_merge_moves_messages_reviews_tasks_and_keeps_opt_outs(crm):
    from core.audit import AuditLog
    from plugins.crm.mailings import Unsubscribe, audience
    from plugins.crm.messages import Message
    from plugins.crm.reviews import ReviewRequest
    from plugins.crm.segments import Segment
    from plugins.crm.tasks import Task

    c = crm.client
    target = _make(c, "Сидоров Олег", "+7 916 100-00-01", emails=["o@example.ru"], consent_email=True,
                   consent_sms=True)
    source = _make(c, "Сидоров О.", "+7 916 100-00-02", emails=["s@example.ru"], consent_email=True,
                   consent_sms=True)
    with crm.ctx() as s:
        s.add_all([
            Message(client_id=source, event="car_ready", channel="sms", recipient="+79161000002", body="Ready",
                    status="sent", idempotency_key="m1"),
            ReviewRequest(client_id=source, token="tok-1", score=5, comment="Great"),
            Task(client_id=source, title="Call back about tyres"),
            # The source opted out of e-mail and SMS; the target already had an e-mail opt-out.
            Unsubscribe(client_id=source, channel="email"),
            Unsubscribe(client_id=source, channel="sms"),
            Unsubscribe(client_id=target, channel="email"),
            Segment(name="Everyone", filters={}),
        ])

    r = c.post(f"/api/v1/crm/clients/{target}/merge", json={"source_id": source})
    assert r.status_code == 200, r.get_json()

    with crm.ctx() as s:
        assert s.scalars(select(Message.client_id)).all() == [target]
        assert s.scalars(select(ReviewRequest.client_id)).all() == [target]
        assert s.scalars(select(Task.client_id)).all() == [target]
        assert sorted(s.scalars(select(Unsubscribe.channel).where(Unsubscribe.client_id == target))) == ["email", "sms"]
        assert s.scalar(select(func.count()).select_from(Unsubscribe)) == 2
        # The merged client opted out of SMS through the source: an SMS mailing leaves it out.
        segment = s.scalars(select(Segment)).one()
        recipients, excluded = audience(segment, "sms")
        assert [cl.id for cl, _addr in recipients] == [] and excluded["unsubscribed"] == 1
        moved = s.scalars(select(AuditLog).where(AuditLog.action == "merge")).one().changes["moved"][1]
        assert moved["crm_message"] == 1 and moved["crm_review"] == 1 and moved["crm_task"] == 1
        assert moved["crm_unsubscribe"] == 1 and moved["crm_unsubscribe.duplicates_dropped"] == 1


def test_every_crm_table_pointing_at_a_client_is_handled_by_the_merge(app):
    """A new crm_* table with a client foreign key must be added to the merge (or its data would be
    lost to ON DELETE CASCADE / orphaned by SET NULL)."""
    from core.db import db
    from plugins.crm.services import MERGE_HANDLED

    pointing = {table.name for table in db.metadata.tables.values() if table.name.startswith("crm_")
                and (any(fk.column.table.name == "crm_client" for fk in table.foreign_keys)
                     or "client_id" in table.columns)}  # a plain client id column too
    assert pointing == set(MERGE_HANDLED)
