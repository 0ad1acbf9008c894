"""Fixtures of the SMTP front-end tests; the code lives in smtp_harness.py (a unique
module name, so that test files can import its helpers whatever else is collected)."""
from smtp_harness import certs, client_of, gateway, start_gateway  # noqa: F401
