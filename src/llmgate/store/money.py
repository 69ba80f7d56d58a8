"""Money as text, in one place: exact for programs, readable for people.

Amounts are ``Decimal`` from price to report; the store keeps ``MONEY_SCALE`` (10) decimal places
(``store/models.py``). Three ways to write one, and nothing else in llmgate formats money:

- ``cost_text``: exact, all 10 stored places (``"0.0042900000"``), for the JSON and CSV of the
  reports, the admin API, the dashboard's data and ``llmgate logs --format json``: a spreadsheet
  or ``Decimal(...)`` reads it back exactly.
- ``money_text``: exact and short (``"12.5"``, ``"0.001"``), for values that were typed in, such
  as a key's budget in its JSON and its audit trail.
- ``usd``: for people (the CLI's tables, the budget report, the budget 429 message): a ``$``,
  at least cents, and enough places for a small amount to show: an amount under a dollar gets
  4 significant digits, with trailing zeros past the cents dropped, so ``$0.00429``,
  ``$0.001372``, ``$0.001``, ``$0.50``, ``$0.1296``; a dollar or more is rounded to cents with
  thousands separators (``$1,234.57``); a negative amount has a leading minus (``-$0.000372``),
  and zero is ``$0.00``, never ``-$0.00``. The dashboard's ``LG.fmtUsd``
  (``ui/static/common.js``) follows the same rule, so both read the same.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

#: Decimal places of every money column (``NUMERIC(20, 10)``).
MONEY_SCALE = 10
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
#: significant digits ``usd`` shows of an amount under a dollar
SIGNIFICANT = 4


def cost_text(amount: Decimal) -> str:
    """All 10 stored decimal places, exactly: ``Decimal('0.00429')`` -> ``'0.0042900000'``."""
    return format(amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP), "f")


def money_text(amount: Decimal) -> str:
    """``Decimal('10.0000000000')`` -> ``'10'``: exact, no exponent, no trailing zeros."""
    return format(amount.normalize(), "f")


def usd(amount: Decimal | int) -> str:
    """An amount for people: ``$0.00429``, ``$0.001``, ``$12.35``, ``-$0.000372``, ``$0.00``."""
    amount = Decimal(amount)
    if not amount.is_finite():
        return f"${amount}"
    magnitude = abs(amount)
    if magnitude == 0:
        return "$0.00"
    places = 2 if magnitude >= 1 else min(MONEY_SCALE, max(2, SIGNIFICANT - 1 - magnitude.adjusted()))
    shown = magnitude.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if shown == 0:  # finer than the store keeps (a computed amount): exact rather than a zero
        shown = magnitude
    whole, _, fraction = f"{shown:,f}".partition(".")
    sign = "-" if amount < 0 else ""
    return f"{sign}${whole}.{fraction.rstrip('0').ljust(2, '0')}"
