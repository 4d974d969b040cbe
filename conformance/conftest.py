"""Hooks of every conformance suite: the header says which store the run's havipd processes
use (``HAVIP_STORE_URL``, see ``havip_store.py``)."""

from __future__ import annotations

import havip_store


def pytest_report_header(config):
    return havip_store.describe()
