"""Exact money arithmetic of a work order: line amounts, discounts, shares per payer, VAT.

Pure functions on :class:`decimal.Decimal` (no database), so the rules are easy to test alone:

- a line's ``gross`` is standard hours × rate (or its fixed price) for a job, quantity × price for a
  part, rounded half up to the kopeck; the discount (a percentage or an amount, never more than the
  gross) gives the line's ``amount``;
- a line is shared between payers: fixed-amount shares first, then the rest by percentages (which
  add up to 100) with the **largest-remainder** method, so the shares always add up to the line's
  amount exactly; without percentage shares the rest goes to the order's default payer;
- an insurer's ``excess`` (the deductible) moves from the insurer's total to the client's;
- VAT is computed on each payer's total (each payer gets an invoice of its own) in the order's mode:
  ``none``, ``included`` (prices include VAT) or ``on_top`` (VAT is added); the order's VAT is the
  sum of the payers', so the printed figures always agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Hashable, Sequence

from core.db import quantize_money

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
KOPECK = Decimal("0.01")


class SplitError(ValueError):
    """Shares that cannot be applied to a line (more than its amount, percentages not 100)."""


def labor_gross(hours: Decimal | None, rate: Decimal | None, fixed_price: Decimal | None) -> Decimal:
    if fixed_price is not None:
        return quantize_money(fixed_price)
    return quantize_money(Decimal(hours or 0) * Decimal(rate or 0))


def part_gross(quantity: Decimal | None, price: Decimal | None) -> Decimal:
    return quantize_money(Decimal(quantity or 0) * Decimal(price or 0))


def discounted(gross: Decimal, percent: Decimal | None = None, amount: Decimal | None = None) -> tuple[Decimal, Decimal]:
    """``(discount, amount after discount)``; the discount never exceeds the gross."""
    if percent:
        discount = quantize_money(gross * Decimal(percent) / HUNDRED)
    else:
        discount = quantize_money(amount or 0)
    discount = min(max(discount, ZERO), max(gross, ZERO))
    return discount, quantize_money(gross - discount)


def split_by_percent(total: Decimal, percents: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` into parts proportional to ``percents`` (which add up to 100), exact to the
    kopeck: every part is rounded down, and the kopecks left over go one each to the parts with the
    largest remainders (ties: the earlier part), so the parts always add up to ``total``."""
    if not percents:
        raise SplitError("nothing to split into")
    if sum(Decimal(p) for p in percents) != HUNDRED:
        raise SplitError("percentages must add up to 100")
    if any(Decimal(p) < 0 for p in percents):
        raise SplitError("percentages cannot be negative")
    kopecks = int(quantize_money(total) / KOPECK)
    exact = [Decimal(kopecks) * Decimal(p) / HUNDRED for p in percents]
    floors = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in exact]
    left = kopecks - sum(floors)  # 0 <= left < len(percents)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [Decimal(k) * KOPECK for k in floors]


@dataclass(frozen=True)
class Share:
    """One share of a line: ``payer`` is any hashable key; ``amount`` fixed, or ``percent``."""

    payer: Hashable
    percent: Decimal | None = None
    amount: Decimal | None = None


def split_line(total: Decimal, shares: Sequence[Share], default_payer: Hashable) -> list[tuple[Hashable, Decimal]]:
    """``[(payer, amount), ...]`` for one line: the amounts add up to ``total`` exactly.

    Fixed amounts are taken first; what they leave is split by the percentage shares, or goes to
    ``default_payer`` when there are none. Raises :class:`SplitError` when the fixed amounts exceed
    the line or the percentages do not add up to 100.
    """
    total = quantize_money(total)
    if not shares:
        return [(default_payer, total)]
    fixed = [s for s in shares if s.percent is None]
    by_percent = [s for s in shares if s.percent is not None]
    fixed_sum = quantize_money(sum((Decimal(s.amount or 0) for s in fixed), ZERO))
    if any(Decimal(s.amount or 0) < 0 for s in fixed):
        raise SplitError("a share cannot be negative")
    if fixed_sum > total:
        raise SplitError("the fixed shares exceed the line's amount")
    rest = total - fixed_sum
    out = [(s.payer, quantize_money(s.amount or 0)) for s in fixed]
    if by_percent:
        out += list(zip((s.payer for s in by_percent), split_by_percent(rest, [s.percent for s in by_percent])))
    elif rest:
        out.append((default_payer, rest))
    return out


def vat(amount: Decimal, mode: str, rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """``(net, vat, total)`` of ``amount`` given in the order's prices, for VAT ``mode`` and ``rate`` %."""
    amount = quantize_money(amount)
    rate = Decimal(rate or 0)
    if mode == "included" and rate:
        tax = quantize_money(amount * rate / (HUNDRED + rate))
        return amount - tax, tax, amount
    if mode == "on_top" and rate:
        tax = quantize_money(amount * rate / HUNDRED)
        return amount, tax, amount + tax
    return amount, ZERO, amount


def apply_excess(amounts: dict[Hashable, Decimal], excesses: dict[Hashable, Decimal], client: Hashable
                 ) -> tuple[dict[Hashable, Decimal], dict[Hashable, Decimal]]:
    """Move each insurer's excess (at most what it was to pay) to the client.

    Returns ``(amounts after the move, moved per insurer)``; the grand total is unchanged.
    """
    result = dict(amounts)
    moved: dict[Hashable, Decimal] = {}
    for payer, excess in excesses.items():
        take = min(quantize_money(excess or 0), result.get(payer, ZERO))
        if take > 0:
            result[payer] = result.get(payer, ZERO) - take
            result[client] = result.get(client, ZERO) + take
            moved[payer] = take
    return result, moved
