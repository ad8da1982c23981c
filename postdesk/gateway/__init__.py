"""The running process: settings, CLI, supervisor, and the ingest pipeline joining the parts."""
