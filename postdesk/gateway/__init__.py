"""The running process: settings, CLI, the supervisor and the ingest pipeline that joins the parts."""
