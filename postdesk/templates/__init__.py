"""Jinja2 templates: emails (text + HTML) and admin pages."""
