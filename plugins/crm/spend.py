"""Advertising spend per channel and month (``crm.basic``): what the shop paid for each source of
clients (``Client.source``: "avito", "yandex maps", "radio"...), so the channel report can show the
cost per new client and the return on the spend. Edited through the generic entity API and pages
(``/api/v1/crm/channel-spend``, ``/crm/channel-spend``); one row per source and month."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Money, TenantScoped, db
from core.i18n import domain
from core.models import utcnow

_ = domain("crm").gettext  # messages raised at validation time (a lazy one would be split into letters)
_l = domain("crm").lazy_gettext


class ChannelSpend(TenantScoped, db.Model):
    __tablename__ = "crm_channel_spend"
    __table_args__ = (UniqueConstraint("tenant_id", "source", "month"), Index(None, "tenant_id", "month"))
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(80))  # as written in Client.source
    month: Mapped[str] = mapped_column(String(7))  # "YYYY-MM"
    amount: Mapped[Decimal] = mapped_column(Money)
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


MODELS = [ChannelSpend]


def _raise_decimals():
    raise ValidationError(_("Enter an amount from 0 with at most two decimals."))


class ChannelSpendSchema(Schema):
    id = fields.Integer(dump_only=True)
    source = fields.String(required=True, validate=validate.Length(
        min=1, max=80, error=_l("Name the channel as it is written on the clients (up to 80 characters).")),
        metadata={"label": _l("Advertising channel"),
                  "help": _l("Exactly as in the clients' Source field, e.g. avito.")})
    month = fields.String(required=True, validate=validate.Regexp(
        r"^(19|20)\d\d-(0[1-9]|1[0-2])$", error=_l("Enter a month as YYYY-MM.")),
        metadata={"label": _l("Month"), "help": _l("YYYY-MM")})
    # No ``places``: marshmallow would round 10.005 silently; money with more decimals is refused.
    amount = fields.Decimal(required=True, as_string=True, validate=[validate.Range(
        min=0, max=Decimal("999999999999.99"), error=_l("Enter an amount from 0 with at most two decimals.")),
        lambda v: v == v.quantize(Decimal("0.01")) or _raise_decimals()],
        metadata={"label": _l("Spend")})
    note = fields.String(allow_none=True, validate=validate.Length(max=300), metadata={"label": _l("Note")})
    created_at = fields.DateTime(dump_only=True)
    version = fields.Integer(dump_only=True)


def spend_by_source(first_month: str | None, last_month: str | None) -> dict[str, Decimal]:
    """``{source: total}`` of the months from ``first_month`` to ``last_month`` ("YYYY-MM", inclusive;
    None: open-ended), summed in SQL."""
    from sqlalchemy import func, select

    q = select(ChannelSpend.source, func.sum(ChannelSpend.amount)).group_by(ChannelSpend.source)
    if first_month:
        q = q.where(ChannelSpend.month >= first_month)
    if last_month:
        q = q.where(ChannelSpend.month <= last_month)
    return {source: Decimal(total or 0) for source, total in db.session.execute(q)}
