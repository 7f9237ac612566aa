"""Fixtures of the portal tests: the rules file, and a city whose portals are on the loopback server."""

from __future__ import annotations

import pytest

from hotline_eval.config.registry import Portal, load_registry
from hotline_eval.portals.rules import PortalRules, load_portal_rules
from tests.portals.helpers import NYC_FIELDS, NYC_SLA


@pytest.fixture(scope="module")
def rules() -> PortalRules:
    return load_portal_rules()


HOME = "<html><body><main><p>Call 311, 24/7, or use the app. Track your request online.</p></main></body></html>"
SERVICES = b'[{"service_code": "001", "service_name": "Pothole", "group": "Streets"}, ' \
           b'{"service_code": "002", "service_name": "Graffiti", "group": "Cleaning"}]'


@pytest.fixture
def json_city(server):
    """new_york with its portals on the loopback server: a page, a page URL answering JSON (a genuine
    error), a directory of data records behind a query string, and Open311 services.json."""
    server.expect_request("/home").respond_with_data(HOME, content_type="text/html; charset=utf-8")
    server.expect_request("/about").respond_with_data('{"error": "moved"}', content_type="application/json")
    server.expect_request("/resource/sla.json").respond_with_data(NYC_SLA, content_type="application/json")
    server.expect_request("/open311/v2/services.json").respond_with_data(SERVICES, content_type="application/json")
    base = next(c for c in load_registry().cities if c.id == "new_york")
    portals = [Portal(kind="home", url=server.url_for("/home"), language="en"),
               Portal(kind="about", url=server.url_for("/about"), language="en"),
               Portal(kind="services", url=server.url_for("/resource/sla.json") + "?$limit=50000", language="en",
                      records=NYC_FIELDS),
               Portal(kind="services", url=server.url_for("/open311/v2/services.json") + "?jurisdiction_id=x",
                      language="en")]
    return base.model_copy(update={"portals": portals, "sources": []})
