"""The web admin and JSON API (configuration, tickets, knowledge base)."""
