"""Events -> conditions -> actions: acknowledgements, assignment, notifications, escalation."""
