"""Schemathesis against /openapi.json: every operation, schema-conforming and schema-violating inputs;
0 5xx, and every response (status, content type, headers, body) conforms to the spec.

Not run: negative_data_rejection when only query parameters, headers or multipart fields were made
invalid (see _invalid_only_in_memory: "tag=false" from a boolean is a valid string as sent), and
positive_data_acceptance. Some rules are not expressible in JSON Schema
(date_from <= date_to, memo text with a letter or digit, exactly one of memo_id and text) and their 422 is
the intended answer. schemathesis' pytest plugin needs a pytest before 9.2, so its strategies are driven
with @given here.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from service import create_app
from tests.test_engine import MEMO_A, MEMO_B

TOKEN = "fuzz-token"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))  # more for a deeper run


@pytest.fixture(params=["open", "tokens"])
def fuzz_app(request, config):
    extra = {"API_TOKENS": TOKEN} if request.param == "tokens" else {}
    app = create_app({**config, "RATELIMIT": "off", **extra})
    engine = app.extensions["memo"]
    for text in (MEMO_A, MEMO_B):
        engine.ingest(text)
    app.config["FUZZ_HEADERS"] = {"Authorization": f"Bearer {TOKEN}"} if extra else None
    yield app
    engine.close()


def _invalid_only_in_memory(case) -> bool:
    """Whether the "invalid" parts of a case are valid as sent: query values and multipart fields are
    strings on the wire (a boolean becomes "false"), and the test's own Authorization header replaces a
    negated one."""
    components = case.meta.components if case.meta else {}
    negated = {str(getattr(loc, "value", loc)) for loc, info in components.items() if not info.mode.is_positive}
    if "body" in negated and case.media_type == "multipart/form-data":
        negated.discard("body")
    return negated <= {"query", "header"}


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_conforms_to_the_spec(fuzz_app, mode):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    # Invalid data may also be refused as too large (a text over maxLength in a body over the limit) or
    # as the wrong content type; both are documented answers.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413", "415"]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not os.environ.get("FUZZ_EXAMPLES"),
                  suppress_health_check=list(HealthCheck))
        def conforms(case):
            skip = [positive_data_acceptance] + ([negative_data_rejection] if _invalid_only_in_memory(case) else [])
            case.call_and_validate(headers=fuzz_app.config["FUZZ_HEADERS"], excluded_checks=skip)

        try:
            conforms()
        except Unsatisfiable:
            # nothing to get wrong: no parameters (GET /health) or only a free-form string id
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
        except Exception as exc:
            raise AssertionError(f"{operation.label} ({mode}): {exc}") from exc
