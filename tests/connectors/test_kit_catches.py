"""Every test of the conformance kit can fail: each is failed by a variant of the example that breaks its rule.

The variants live in ``broken_connectors.py``; their tests run in a subprocess (a failing kit test must not
fail this session), and the JUnit report says which failed.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from connectors.testing import ConformanceSuite

ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests/connectors/broken_connectors.py"
CAPABILITY = "test_capability_declared_matches_behaviour"
PAGE_3 = "test_failure_on_page_3_returns_nothing"
STREAM = "test_stream_gives_what_fetch_gives"

MUST_FAIL: dict[str, list[str]] = {
    "ejemplo_nameless": ["test_declares_identity", f"{CAPABILITY}[verify]"],
    "ejemplo_chatty": ["test_secrets_not_in_repr", "test_no_secrets_or_tax_ids_in_logs"],
    "ejemplo_idle": ["test_check_succeeds", "test_check_fails_on_bad_credentials"],
    "ejemplo_forgetful": ["test_verify_accepts_the_right_pair"],
    "ejemplo_talkative": ["test_verify_refusals_are_indistinguishable"],
    "ejemplo_dollars": ["test_fetch_returns_valid_records[valid]", "test_fetch_returns_valid_records[paged]"],
    "ejemplo_receiptless": ["test_fetch_attaches_coverages_and_receipts"],
    "ejemplo_confused": [
        "test_401_is_authentication_failed",
        "test_bad_body_is_invalid_response[malformed]",
        "test_bad_body_is_invalid_response[truncate]",
        "test_short_page_is_invalid_response",
        f"{PAGE_3}[malformed]",
        f"{PAGE_3}[truncate]",
    ],
    "ejemplo_trusting": ["test_short_page_is_invalid_response", f"{PAGE_3}[short_page]"],
    "ejemplo_partial": [f"{PAGE_3}[status_500]", "test_stream_failure_on_page_3_raises"],
    "ejemplo_shy": [f"{CAPABILITY}[email_lookup]", f"{CAPABILITY}[documents]", f"{CAPABILITY}[payment_link]"],
    "ejemplo_boastful": [
        f"{CAPABILITY}[documents]",
        f"{CAPABILITY}[claim_requirements]",
        f"{CAPABILITY}[report_claim]",
    ],
    "ejemplo_raw": ["test_every_call_carries_a_request_id"],
    "ejemplo_impatient": [
        "test_5xx_is_unavailable_after_bounded_retries",
        "test_page_3_retried_gives_the_whole_portfolio",
        "test_429_waits_for_retry_after_up_to_the_cap",
    ],
    "ejemplo_sluggish": ["test_read_timeout_is_honoured"],
    "ejemplo_patient": ["test_deadline_bounds_the_retries", "test_the_whole_fetch_is_capped"],
    "ejemplo_greedy": ["test_429_beyond_the_cap_fails_fast"],
    "ejemplo_fuse": ["test_breaker_opens_fails_fast_and_recovers"],
    "ejemplo_hasty": ["test_stream_deadline_applies_per_page", "test_stream_holds_no_operation_between_parts"],
    "ejemplo_stuttering": [f"{STREAM}[valid]", f"{STREAM}[paged]"],
    "ejemplo_hoarding": ["test_stream_is_lazy_and_stops_when_closed"],
}
MUST_PASS: dict[str, list[str]] = {
    "ejemplo_full": [f"{CAPABILITY}[claim_requirements]", f"{CAPABILITY}[report_claim]"],
    "ejemplo_streaming": [
        f"{STREAM}[valid]",
        f"{STREAM}[paged]",
        "test_stream_failure_on_page_3_raises",
        "test_stream_deadline_applies_per_page",
        "test_stream_holds_no_operation_between_parts",
        "test_stream_is_lazy_and_stops_when_closed",
        "test_the_whole_fetch_is_capped",
    ],
}


def _kit_tests() -> set[str]:
    """Every test id of the suite for one connector, without the slug: ``test_x`` or ``test_x[param]``."""
    found: set[str] = set()
    for name in dir(ConformanceSuite):
        if not name.startswith("test_"):
            continue
        marks = [m for m in getattr(getattr(ConformanceSuite, name), "pytestmark", []) if m.name == "parametrize"]
        if not marks:
            found.add(name)
            continue
        ids = marks[0].kwargs.get("ids") or [str(value) for value in marks[0].args[1]]
        found |= {f"{name}[{i}]" for i in ids}
    return found


def _node_name(test: str, slug: str) -> str:
    name, _, param = test.partition("[")
    return f"{name}[{slug}-{param}" if param else f"{name}[{slug}]"


def test_every_kit_test_is_failed_by_some_broken_connector() -> None:
    covered = {test for tests in MUST_FAIL.values() for test in tests}
    assert _kit_tests() - covered == set(), "a kit test with no broken connector to prove it can fail"


@pytest.mark.slow
def test_the_kit_fails_each_broken_connector_where_it_should(tmp_path: Path) -> None:
    expected = {_node_name(t, slug): "failed" for slug, tests in MUST_FAIL.items() for t in tests}
    expected |= {_node_name(t, slug): "passed" for slug, tests in MUST_PASS.items() for t in tests}
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *(f"{MODULE}::TestBroken::{name}" for name in expected)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 (our own report)
        children = {child.tag for child in case}
        outcomes[case.get("name", "")] = next((o for o in ("failure", "error", "skipped") if o in children), "passed")
    outcomes = {name: {"failure": "failed"}.get(o, o) for name, o in outcomes.items()}
    wrong = {name: outcomes.get(name, "not run") for name, want in expected.items() if outcomes.get(name) != want}
    assert wrong == {}, run.stdout[-4000:]
