"""Exact decimal column types besides money: hours, quantities and percentages.

Stored as scaled integers like :class:`core.db.Money` (SQLite's NUMERIC is a float underneath), so
1.25 standard hours or 0.350 l of oil come back exactly as they went in.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import BigInteger
from sqlalchemy.types import TypeDecorator

from core.db import Money


class _Scaled(TypeDecorator):
    """Money's exact storage (scaled integers), but not a :class:`Money`: the generic pages format a
    Money column as an amount in the shop's currency, and hours or a percentage are not one."""

    impl = BigInteger
    cache_ok = True
    SCALE = 2
    _QUANT = Decimal("0.01")
    process_bind_param = Money.process_bind_param
    process_result_value = Money.process_result_value

    def coerce_compared_value(self, op, value):
        return self


class Quantity(_Scaled):
    """Three decimals: standard hours (1.250) and part quantities (4.350 l)."""

    cache_ok = True
    SCALE = 3
    _QUANT = Decimal("0.001")


class Percent(_Scaled):
    """Two decimals: 12.50 (%)."""

    cache_ok = True
