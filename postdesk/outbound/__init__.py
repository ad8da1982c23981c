"""Mail out: the transactional outbox, Jinja2 rendering, the relay sender and thread-keeping headers."""
