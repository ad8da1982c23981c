"""Which ticket does a message belong to? Pure decisions over headers plus a lookup port.

No I/O here: ``decide`` takes the message's threading headers and a ``ThreadLookup`` and
returns a ``ThreadDecision`` that says why. Signed reply addresses and Message-IDs live in
``tokens``; subject tags in ``subject``.
"""
