"""Exact decimal column types besides money: hours, quantities and percentages.

Stored as scaled integers like :class:`core.db.Money` (SQLite's NUMERIC is a float underneath), so
1.25 standard hours or 0.350 l of oil come back exactly as they went in.
"""
from __future__ import annotations

from decimal import Decimal

from core.db import Money


class Quantity(Money):
    """Three decimals: standard hours (1.250) and part quantities (4.350 l)."""

    cache_ok = True
    SCALE = 3
    _QUANT = Decimal("0.001")


class Percent(Money):
    """Two decimals: 12.50 (%)."""

    cache_ok = True
