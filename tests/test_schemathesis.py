"""Property-based API tests from the OpenAPI schema: no generated request may get a 5xx response.

Bounded for CI at 50 examples per operation, against a real `python -m api` process with keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from config.settings import Settings
from tests.test_crash_recovery import Service

ADMIN_KEY = "schemathesis-admin-key-0123456789"


@pytest.fixture(scope="module")
def api_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    state = tmp_path_factory.mktemp("state")
    log_path = state.parent / "service.log"
    service = Service(state, log_path, {"CENTINELA_API_KEYS": f"fuzzer:{ADMIN_KEY}:admin"})
    yield service
    service.stop()


def openapi_document() -> dict[str, object]:
    """Return the service's OpenAPI document; building it runs no lifespan, so it is cheap at import."""
    settings = Settings(api_keys=f"fuzzer:{ADMIN_KEY}:admin")
    return create_app(settings).openapi()


# Note: schemathesis.pytest.from_fixture fails on pytest 9 ('Function' has no '_nodeid'), so the
# schema comes from the app factory and the requests go to the real service through base_url.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_no_server_errors(case: schemathesis.Case, api_service: Service) -> None:
    response = case.call(base_url=api_service.url, headers={"X-API-Key": ADMIN_KEY}, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"


def test_schemathesis_service_log_has_no_tracebacks(api_service: Service) -> None:
    log = Path(api_service.log.name).read_text()
    assert "Traceback" not in log
