"""Money: Decimal amounts with two decimals."""

from decimal import Decimal

CENT = Decimal("0.01")
