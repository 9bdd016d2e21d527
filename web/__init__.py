"""The reach dashboard (FastAPI + Jinja2), beside the command line."""
