"""postdesk: an email-first ticketing gateway.

The parts of the product live one level down (``postdesk.threading`` and not a top-level
``threading``, which would shadow the standard library).
"""

__version__ = "0.1.0"
