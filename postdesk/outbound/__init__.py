"""Mail out: transactional outbox, Jinja2 rendering, relay sender, thread-keeping headers."""
