"""``python -m postdesk``: the same as the ``postdesk`` command."""

from postdesk.gateway.cli import main

main()
