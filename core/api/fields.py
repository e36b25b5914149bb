"""Marshmallow fields for plugin schemas.

``Money``: amounts travel as strings with exactly two decimals ("1250.00"), never as JSON floats, and
load into :class:`decimal.Decimal` (the API parses JSON numbers as Decimal too, so ``12.5`` is exact).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import fields

from core.db import quantize_money


class Money(fields.Field):
    """An amount of money: loads str/int/Decimal (never float) with at most two decimals; dumps "0.00"."""

    # Plain English like marshmallow's own messages: core.api.errors translates them on output.
    default_error_messages = {
        "invalid": "Not a valid amount of money.",
        "precision": "At most two decimal places.",
        "too_large": "Amount too large.",
    }
    # 10^15 minor units still fit a BIGINT many times over; larger input is a typo, not a price.
    MAX = Decimal("1e13")

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return str(quantize_money(value))

    def _deserialize(self, value, attr, data, **kwargs):
        # bool is an int subclass and float loses kopecks: both are refused.
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int, Decimal)):
            raise self.make_error("invalid")
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        if amount != amount.quantize(Decimal("0.01")):
            raise self.make_error("precision")
        if abs(amount) >= self.MAX:
            raise self.make_error("too_large")
        return quantize_money(amount)
