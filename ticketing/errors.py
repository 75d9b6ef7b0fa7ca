"""Errors of the ticketing package.

::

    TicketingError
    ├── NotFound              the show, tier, order or ticket does not exist
    ├── Refused               a rule says no; ``code`` names it for the HTTP answer
    │   ├── SoldOut           no seat left in the tier (quantity − tickets − live holds)
    │   ├── OffSale           the tier is outside its sales window
    │   └── BadPrice          an amount below a pay-what-you-want floor, or given for a fixed price
    ├── InvalidTier           a tier or show definition that can never be valid (we were called wrongly
    │                         or the owner sent nonsense): negative price, floor above suggested...
    └── BadToken              a viewing token that is forged, malformed or expired
"""

from __future__ import annotations


class TicketingError(Exception):
    """Root of every error this package raises."""


class NotFound(TicketingError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")
        self.what = what


class Refused(TicketingError):
    code = "refused"


class SoldOut(Refused):
    code = "sold_out"


class OffSale(Refused):
    code = "off_sale"


class BadPrice(Refused):
    code = "bad_price"


class InvalidTier(TicketingError):
    """A show or tier definition that breaks a rule of ``ticketing.model``."""


class BadToken(TicketingError):
    """A viewing token that is forged, malformed or expired."""
