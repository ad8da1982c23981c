"""Events -> conditions -> actions: acknowledgements, assignment, notifications, escalation, time-based rules."""
