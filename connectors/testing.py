"""The conformance kit (DESIGN §4): one suite that every connector must pass against its own sandbox.

Like Meltano's ``get_tap_test_class``, a test module asks for the suite and gives it a ``Test*`` name::

    from connectors.testing import conformance_tests

    TestConformance = conformance_tests(AcmeConnector)  # several classes: one run each, test ids = slugs

    $ python -m pytest tests/connectors -k acme

For each connector the kit starts ``Connector.sandbox()`` on loopback — ``make_app(page_size=samples.page_size)``
behind a recorder that remembers every request the sandbox receives — and builds the connector from
``settings_for(base_url)`` with ``KIT_POLICY`` (short timeouts, 3 attempts, a 3-failure breaker with a 1 s
cool-down). Faults are set through the sandbox's own endpoint (``SandboxSpec.faults_path``, see
``connectors.sandbox.faults``). Before and after every test: faults cleared, breakers reset, recorder emptied.

What the suite needs from ``SandboxSpec.samples``: ``valid`` (tax ID + in-force policy), ``inactive``,
``unknown``, ``email_with_clients`` (when email lookup is declared), ``paged_client`` with ``paged_policy``
(one of its in-force policies, to verify it and get its client reference) spanning at least 5 pages at
``page_size``. The paginated listing is found by itself (the first GET path requested 5 times or more while
fetching ``paged_client``); ``paged_path`` overrides that with a path prefix.

This is the only module of ``connectors`` that imports pytest.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
import requests

from connectors.base import Capability, Connector, SandboxSpec, Setting
from connectors.errors import AuthenticationFailed, ConnectorError, InsurerUnavailable, InvalidResponse, NotSupported
from connectors.http import HttpPolicy, current_operation, reset_breakers
from connectors.models import (
    Claim,
    ClaimEvent,
    ClaimReceipt,
    ClaimReport,
    ClaimRequirements,
    ClaimStatus,
    ClientMatch,
    Document,
    DocumentKind,
    DocumentRef,
    Money,
    PaymentLink,
    Policy,
    PolicyPage,
    PolicyStatus,
    Portfolio,
    PortfolioStream,
    Receipt,
    ReceiptStatus,
    TaxId,
    as_plain,
    collect,
)
from connectors.sandbox.server import running

__all__ = [
    "KIT_POLICY",
    "Baseline",
    "Call",
    "ConformanceSuite",
    "Recorder",
    "Sandbox",
    "assert_none",
    "conformance_tests",
]

KIT_POLICY = HttpPolicy(
    connect_timeout=0.5,
    read_timeout=1.0,
    deadline=3.0,
    fetch_deadline=6.0,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=0.2,
    retry_after_cap=1.5,
    breaker_threshold=3,
    breaker_cooldown=1.0,
    pool_size=4,
)
SLACK = 0.5  # seconds tolerated beyond a deadline: thread scheduling on a loaded machine
FAST = 0.05  # an open circuit answers within this many seconds
MIN_PAGES = 5
ACTIVE = (PolicyStatus.IN_FORCE, PolicyStatus.PENDING_PAYMENT)
UNKNOWN_EMAIL = "nadie.conformance-kit@example.invalid"


# --- the sandbox, as the kit runs it ------------------------------------------------------------


@dataclass
class Call:
    """One request the sandbox received (fault control excluded)."""

    method: str
    path: str
    query: str
    request_id: str | None
    status: int | None = None  # None while the sandbox is still answering

    def __str__(self) -> str:
        return f"{self.method} {self.path}{'?' + self.query if self.query else ''} → {self.status}"


class Recorder:
    """WSGI middleware in front of a sandbox: remembers the requests it receives, in order."""

    def __init__(self, app: Callable[..., Iterable[bytes]], control_path: str) -> None:
        self.app = app
        self.control_path = control_path
        self.threads: set[int] = set()  # threads that served requests: their log records are the sandbox's
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.threads.add(threading.get_ident())
        path = str(environ.get("PATH_INFO", ""))
        if path == self.control_path:
            return self.app(environ, start_response)
        call = Call(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            path=path,
            query=str(environ.get("QUERY_STRING", "")),
            request_id=environ.get("HTTP_X_REQUEST_ID"),
        )
        with self._lock:
            self._calls.append(call)

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            call.status = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.app(environ, recording_start_response)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class Sandbox:
    """A connector's sandbox running for the kit, and the means to drive it."""

    connector_cls: type[Connector]
    spec: SandboxSpec
    base_url: str
    recorder: Recorder
    control: requests.Session = field(default_factory=requests.Session)

    def connector(self, policy: HttpPolicy = KIT_POLICY, *, bad_settings: bool = False) -> Connector:
        """A new connector instance on this sandbox (working settings unless ``bad_settings``)."""
        settings = (self.spec.bad_settings_for if bad_settings else self.spec.settings_for)(self.base_url)
        return self.connector_cls(settings, policy=policy)

    def warm(self, policy: HttpPolicy = KIT_POLICY) -> Connector:
        """A connector that has done ``check()`` (tokens fetched), so that faults hit the calls under test."""
        connector = self.connector(policy)
        connector.check()
        self.recorder.clear()
        return connector

    def faults(self, **faults: Any) -> None:
        """Set the sandbox's faults (``connectors.sandbox.faults.Faults`` field names)."""
        response = self.control.post(self.base_url + self.spec.faults_path, json=faults, timeout=5)
        assert response.status_code == 200, f"the sandbox refused faults {faults}: {response.status_code}"

    def reset(self) -> None:
        """No faults, closed breakers, an empty recorder."""
        response = self.control.delete(self.base_url + self.spec.faults_path, timeout=5)
        assert response.status_code == 200, f"the sandbox did not clear its faults: {response.status_code}"
        reset_breakers()
        self.recorder.clear()

    def calls(self) -> list[Call]:
        return self.recorder.calls()

    def secrets(self) -> dict[str, str]:
        """The values of the settings declared secret (long enough to look for in text)."""
        secret = {s.name for s in self.connector_cls.settings if s.secret}
        working = self.spec.settings_for(self.base_url)
        return {name: value for name, value in working.items() if name in secret and len(value) >= 4}


@dataclass(frozen=True)
class Baseline:
    """What the sandbox holds for the two sample clients, fetched once per connector."""

    valid: ClientMatch
    portfolio: Portfolio
    paged: ClientMatch
    paged_portfolio: Portfolio
    listing: str  # path (or, from ``samples.paged_path``, path prefix) of the paginated listing
    listing_is_prefix: bool

    @classmethod
    def take(cls, sandbox: Sandbox) -> Baseline:
        samples = sandbox.spec.samples
        connector = sandbox.connector()
        valid = connector.verify_client(*samples.valid)
        if not isinstance(valid, ClientMatch):
            pytest.fail(f"verify_client refused samples.valid ({samples.valid[0].masked()}): nothing to fetch")
        portfolio = connector.fetch(valid.client_ref)
        if not samples.paged_policy:
            pytest.fail("SandboxSamples.paged_policy is not set: the kit verifies paged_client with it")
        paged = connector.verify_client(samples.paged_client, samples.paged_policy)
        if not isinstance(paged, ClientMatch):
            pytest.fail("verify_client refused samples.paged_client with samples.paged_policy")
        sandbox.recorder.clear()
        paged_portfolio = connector.fetch(paged.client_ref)
        listing, is_prefix = find_listing(sandbox.calls(), samples.paged_path)
        return cls(valid, portfolio, paged, paged_portfolio, listing, is_prefix)

    def page_request(self, calls: list[Call], page: int) -> int:
        """N such that the Nth request matching ``path=listing`` (how faults count) asked for ``page``."""
        matching = [c for c in calls if c.path.startswith(self.listing)]
        pages = [n for n, c in enumerate(matching, start=1) if c.path == self.listing]
        if len(pages) < MIN_PAGES and self.listing_is_prefix:  # pages told apart by path: every match is one
            pages = list(range(1, len(matching) + 1))
        assert len(pages) >= MIN_PAGES, f"fetching paged_client requested {self.listing} {len(pages)} times"
        return pages[page - 1]

    def policies(self) -> tuple[Policy, ...]:
        return self.portfolio.policies + self.paged_portfolio.policies


def find_listing(calls: list[Call], override: str | None) -> tuple[str, bool]:
    """The paginated listing: ``override`` as a prefix, else the first GET path requested 5 times or more."""
    if override:
        count = sum(1 for c in calls if c.path.startswith(override))
        assert count >= MIN_PAGES, f"fetching paged_client requested {override}… {count} times, not {MIN_PAGES}+"
        return override, True
    counts = Counter(c.path for c in calls if c.method == "GET")
    for call in calls:
        if call.method == "GET" and counts[call.path] >= MIN_PAGES:
            return call.path, False
    seen = ", ".join(f"{path} ×{n}" for path, n in counts.most_common(5))
    pytest.fail(
        f"fetching paged_client at page_size={MIN_PAGES}+ pages: no GET path was requested {MIN_PAGES} times "
        f"({seen}); make the sample span {MIN_PAGES} pages or set SandboxSamples.paged_path"
    )


# --- checks -----------------------------------------------------------------------------------------


def _walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    yield where, value
    if is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _walk(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}[{key!r}]")


def portfolio_problems(portfolio: Any, connector_cls: type[Connector], client_ref: str) -> list[str]:
    """Everything wrong with a fetched portfolio, as readable lines (empty: valid)."""
    if not isinstance(portfolio, Portfolio):
        return [f"fetch returned {type(portfolio).__name__}, not a Portfolio"]
    problems: list[str] = []
    if portfolio.client.client_ref != client_ref:
        problems.append(f"portfolio.client.client_ref is {portfolio.client.client_ref!r}, asked for {client_ref!r}")
    if not portfolio.policies:
        problems.append("no policies")
    for where, value in _walk(portfolio, "portfolio"):
        if isinstance(value, float):
            problems.append(f"{where} is a float")
        elif isinstance(value, Money):
            if not isinstance(value.amount, Decimal):
                problems.append(f"{where}.amount is {type(value.amount).__name__}, not Decimal")
            if value.currency not in connector_cls.currencies:
                problems.append(f"{where}.currency {value.currency!r} is not among {connector_cls.currencies}")
        elif isinstance(value, datetime) and value.utcoffset() is None:
            problems.append(f"{where} is a naive datetime")
        elif isinstance(value, TaxId) and value.type not in connector_cls.tax_id_types:
            problems.append(f"{where} is a {value.type}, not among {connector_cls.tax_id_types}")
    known = {p.external_id for p in portfolio.policies}
    for index, policy in enumerate(portfolio.policies):
        where = f"policy {policy.number}"
        if not isinstance(policy.status, PolicyStatus):
            problems.append(f"{where}: status {policy.status!r} is not a PolicyStatus")
        if not policy.coverages:
            problems.append(f"{where} (portfolio.policies[{index}]) has no coverages")
        problems += [f"{where}: receipt {r.number} status {r.status!r}" for r in policy.receipts
                     if not isinstance(r.status, ReceiptStatus)]  # fmt: skip
        problems += [f"{where}: document {d.ref} kind {d.kind!r}" for d in policy.documents
                     if not isinstance(d.kind, DocumentKind)]  # fmt: skip
    for claim in portfolio.claims:
        if not isinstance(claim, Claim):
            problems.append(f"claims hold a {type(claim).__name__}")
            continue
        if claim.policy_external_id not in known:
            problems.append(f"claim {claim.number} points at unknown policy {claim.policy_external_id!r}")
        statuses = [claim.status, *(e.status for e in claim.history if isinstance(e, ClaimEvent))]
        problems += [f"claim {claim.number}: status {s!r} is not a ClaimStatus" for s in statuses
                     if not isinstance(s, ClaimStatus)]  # fmt: skip
    return problems


def identity_problems(connector_cls: type[Connector]) -> list[str]:
    """What a connector class declares wrongly about itself."""
    problems: list[str] = []
    slug = getattr(connector_cls, "slug", None)
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", slug):
        problems.append(f"slug {slug!r}: lower_snake_case")
    if not str(getattr(connector_cls, "display_name", "")).strip():
        problems.append("no display_name")
    if not connector_cls.countries or not all(re.fullmatch(r"[A-Z]{2}", c) for c in connector_cls.countries):
        problems.append(f"countries {connector_cls.countries!r}: ISO 3166 alpha-2 codes")
    if not connector_cls.currencies or not all(re.fullmatch(r"[A-Z]{3}", c) for c in connector_cls.currencies):
        problems.append(f"currencies {connector_cls.currencies!r}: ISO 4217 codes")
    if not connector_cls.tax_id_types:
        problems.append("no tax_id_types")
    if not all(isinstance(c, Capability) for c in connector_cls.capabilities):
        problems.append(f"capabilities {connector_cls.capabilities!r}: Capability members")
    if Capability.VERIFY not in connector_cls.capabilities:
        problems.append("Capability.VERIFY is not declared: verify_client is the linking proof every insurer offers")
    names = [s.name for s in connector_cls.settings]
    if not all(isinstance(s, Setting) and re.fullmatch(r"[a-z][a-z0-9_]*", s.name) for s in connector_cls.settings):
        problems.append(f"settings {names}: Setting records with lower_snake_case names")
    if len(set(names)) != len(names):
        problems.append(f"settings {names}: duplicate names")
    spec = connector_cls.sandbox()
    if not isinstance(spec, SandboxSpec):
        problems.append("sandbox() returns no SandboxSpec: every connector ships a sandbox")
    elif not spec.samples.paged_policy:
        problems.append("SandboxSamples.paged_policy is not set")
    return problems


def assert_none(problems: list[str], what: str) -> None:
    """Fail listing every problem, one a line."""
    assert not problems, f"{what}:\n  " + "\n  ".join(problems)


def _plain(portfolio: Portfolio) -> Any:
    data = as_plain(portfolio)
    data.pop("fetched_at")
    return data


def _describe(result: Any) -> str:
    if isinstance(result, Portfolio):
        return f"a portfolio of {len(result.policies)} policies and {len(result.claims)} claims"
    return repr(result)[:200]


def expect_error(expected: type[ConnectorError], call: Callable[[], Any], what: str) -> ConnectorError:
    """Run ``call``; it must raise ``expected`` — a result (say a smaller portfolio) or another error fails."""
    try:
        result = call()
    except expected as exc:
        return exc
    except Exception as exc:
        pytest.fail(f"{what}: expected {expected.__name__}, got {type(exc).__name__}: {exc}")
    pytest.fail(f"{what}: expected {expected.__name__}, got {_describe(result)}")


def _streams_or_skip(connector: Connector) -> None:
    """Skip a streaming-only test for a connector that streams ``fetch()`` in one piece (the default)."""
    if type(connector).fetch_parts is Connector.fetch_parts:
        pytest.skip(f"{type(connector).__name__} does not override fetch_parts: its fetch comes in one piece")


def _timed(call: Callable[[], Any]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(value) for value in vars(record).values()]
    with contextlib.suppress(TypeError, ValueError):
        parts.append(record.getMessage())
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return " ".join(parts)


def _leaks(texts: Iterable[str], needles: dict[str, str]) -> list[str]:
    found = []
    for text in texts:
        squeezed = re.sub(r"[\s.\-/]", "", text).upper()
        for name, needle in needles.items():
            if needle in text or needle.upper() in squeezed:
                found.append(f"{name} in: {text[:160]!r}")
    return found


# --- the suite ----------------------------------------------------------------------------------------


class ConformanceSuite:
    """The tests. Collected through ``conformance_tests()``, which provides the ``connector_cls`` fixture."""

    __test__ = False

    # --- fixtures ---

    # Class-scoped fixtures are classmethods: one instance of the class per test, one fixture per class
    # (pytest deprecates class-scoped instance-method fixtures).
    @pytest.fixture(scope="class")
    @classmethod
    def sandbox(cls, connector_cls: type[Connector]) -> Iterator[Sandbox]:
        """The connector's sandbox on loopback for the whole class (one per connector)."""
        spec = connector_cls.sandbox()
        if not isinstance(spec, SandboxSpec):
            pytest.fail(f"{connector_cls.__name__}.sandbox() returned no SandboxSpec: every connector ships one")
        recorder = Recorder(spec.make_app(page_size=spec.samples.page_size), spec.faults_path)
        with running(recorder) as base_url:
            box = Sandbox(connector_cls, spec, base_url, recorder)
            yield box
            box.control.close()

    @pytest.fixture
    def insurer(self, sandbox: Sandbox) -> Iterator[Sandbox]:
        """The sandbox with no faults, closed breakers and an empty recorder, before and after the test."""
        sandbox.reset()
        yield sandbox
        sandbox.reset()

    @pytest.fixture(scope="class")
    @classmethod
    def baseline(cls, sandbox: Sandbox) -> Baseline:
        sandbox.reset()
        return Baseline.take(sandbox)

    # --- identity and settings ---

    def test_declares_identity(self, connector_cls: type[Connector]) -> None:
        assert_none(identity_problems(connector_cls), f"{connector_cls.__name__} declares")

    def test_secrets_not_in_repr(self, insurer: Sandbox) -> None:
        connector = insurer.connector()
        shown = f"{connector!r} {connector} {connector.masked_settings()}"
        assert_none([f"setting {name!r}" for name, value in insurer.secrets().items() if value in shown], "in repr()")

    # --- check ---

    def test_check_succeeds(self, insurer: Sandbox) -> None:
        insurer.connector().check()
        assert insurer.calls(), "check() must reach the insurer; the sandbox saw no request"

    def test_check_fails_on_bad_credentials(self, insurer: Sandbox) -> None:
        connector = insurer.connector(bad_settings=True)
        error = expect_error(AuthenticationFailed, connector.check, "check() with bad_settings_for")
        bad = insurer.spec.bad_settings_for(insurer.base_url)
        assert_none(_leaks([str(error)], {k: v for k, v in bad.items() if k in insurer.secrets()}), "leaked")

    # --- verify_client ---

    def test_verify_accepts_the_right_pair(self, insurer: Sandbox) -> None:
        tax_id, number = insurer.spec.samples.valid
        match = insurer.connector().verify_client(tax_id, number)
        assert isinstance(match, ClientMatch), f"verify_client(samples.valid) returned {match!r}"
        assert match.client_ref.strip()
        if match.tax_id is not None and match.tax_id.type == tax_id.type:
            assert match.tax_id.number == tax_id.number

    def test_verify_refusals_are_indistinguishable(self, insurer: Sandbox, baseline: Baseline) -> None:
        samples = insurer.spec.samples
        tax_id, number = samples.valid
        own = {p.number for p in baseline.portfolio.policies}
        wrong = next(f"{number[:-1]}{c}" for c in "0123456789X" if f"{number[:-1]}{c}" not in own)
        refusals: dict[str, tuple[TaxId, str]] = {
            "wrong policy number": (tax_id, wrong),
            "inactive policy": samples.inactive,
            "unknown tax ID": (samples.unknown, number),
        }
        if samples.paged_policy and samples.paged_client != tax_id:
            refusals["another client's policy"] = (tax_id, samples.paged_policy)
        connector = insurer.connector()
        answers: dict[str, Any] = {}
        for why, (who, what) in refusals.items():
            try:
                answers[why] = connector.verify_client(who, what)
            except ConnectorError as exc:
                answers[why] = f"raised {type(exc).__name__}"
        assert answers == dict.fromkeys(refusals)
        if samples.inactive[0] == tax_id:  # the sample must really be an inactive policy of a known client
            inactive = [p for p in baseline.portfolio.policies if p.number == samples.inactive[1]]
            assert inactive and inactive[0].status not in ACTIVE, "samples.inactive is not an inactive policy"

    # --- fetch ---

    @pytest.mark.parametrize("who", ["valid", "paged"])
    def test_fetch_returns_valid_records(self, insurer: Sandbox, baseline: Baseline, who: str) -> None:
        match = baseline.valid if who == "valid" else baseline.paged
        portfolio = insurer.connector().fetch(match.client_ref)
        assert_none(portfolio_problems(portfolio, insurer.connector_cls, match.client_ref), f"fetch ({who} sample)")
        number = insurer.spec.samples.valid[1] if who == "valid" else insurer.spec.samples.paged_policy
        statuses = [p.status for p in portfolio.policies if p.number == number]
        assert statuses and statuses[0] in ACTIVE, f"the verified policy {number} is not in force: {statuses}"

    def test_fetch_attaches_coverages_and_receipts(self, baseline: Baseline) -> None:
        assert any(p.coverages and p.receipts for p in baseline.policies()), "no policy has coverages and receipts"

    # --- errors ---

    def test_5xx_is_unavailable_after_bounded_retries(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        insurer.faults(status=500)
        expect_error(InsurerUnavailable, lambda: connector.fetch(baseline.valid.client_ref), "fetch under HTTP 500")
        failed = [c for c in insurer.calls() if c.status is not None and c.status >= 500]
        assert 1 <= len(failed) <= KIT_POLICY.max_attempts, [str(c) for c in failed]
        first = failed[0]
        if first.method in ("GET", "HEAD"):
            again = [c for c in failed if (c.method, c.path, c.query) == (first.method, first.path, first.query)]
            assert len(again) == KIT_POLICY.max_attempts, f"an idempotent call is retried: {[str(c) for c in failed]}"

    def test_401_is_authentication_failed(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        insurer.faults(status=401)
        expect_error(AuthenticationFailed, lambda: connector.fetch(baseline.valid.client_ref), "fetch under 401")

    @pytest.mark.parametrize("fault", ["malformed", "truncate"])
    def test_bad_body_is_invalid_response(self, insurer: Sandbox, baseline: Baseline, fault: str) -> None:
        connector = insurer.warm()
        insurer.faults(**{fault: True})
        expect_error(InvalidResponse, lambda: connector.fetch(baseline.valid.client_ref), f"fetch, {fault} body")

    def test_short_page_is_invalid_response(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        insurer.faults(short_page=True)
        expect_error(InvalidResponse, lambda: connector.fetch(baseline.paged.client_ref), "fetch with short pages")

    @pytest.mark.parametrize(
        ("fault", "error"),
        [("status_500", InsurerUnavailable), ("malformed", InvalidResponse), ("truncate", InvalidResponse),
         ("short_page", InvalidResponse)],
        ids=["status_500", "malformed", "truncate", "short_page"],
    )  # fmt: skip
    def test_failure_on_page_3_returns_nothing(
        self, insurer: Sandbox, baseline: Baseline, fault: str, error: type[ConnectorError]
    ) -> None:
        connector = insurer.warm(replace(KIT_POLICY, max_attempts=1))  # a retry would mend a one-off 500
        ref = baseline.paged.client_ref
        connector.fetch(ref)
        nth = baseline.page_request(insurer.calls(), 3)
        insurer.recorder.clear()
        setting: dict[str, Any] = {"status": 500} if fault == "status_500" else {fault: True}
        insurer.faults(**setting, on_request=nth, path=baseline.listing)
        expect_error(error, lambda: connector.fetch(ref), f"fetch with page 3 of {MIN_PAGES}+ failing ({fault})")
        reached = [c for c in insurer.calls() if c.path.startswith(baseline.listing)]
        assert len(reached) >= nth, f"the fetch stopped before page 3: {[str(c) for c in insurer.calls()]}"

    def test_page_3_retried_gives_the_whole_portfolio(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        ref = baseline.paged.client_ref
        whole = connector.fetch(ref)
        nth = baseline.page_request(insurer.calls(), 3)
        insurer.recorder.clear()
        insurer.faults(status=503, on_request=nth, path=baseline.listing)
        again = connector.fetch(ref)
        assert any(c.status == 503 for c in insurer.calls()), "the fault on page 3 did not fire"
        assert _plain(again) == _plain(whole)

    # --- time ---

    def test_read_timeout_is_honoured(self, insurer: Sandbox, baseline: Baseline) -> None:
        policy = replace(KIT_POLICY, max_attempts=1)
        connector = insurer.warm(policy)
        insurer.faults(timeout_s=policy.read_timeout + 1.0)
        elapsed = _timed(lambda: expect_error(InsurerUnavailable, lambda: connector.fetch(baseline.valid.client_ref),
                                              "fetch from an insurer that does not answer"))  # fmt: skip
        assert elapsed <= policy.read_timeout + SLACK, f"{elapsed:.2f} s for a read timeout of {policy.read_timeout} s"

    def test_deadline_bounds_the_retries(self, insurer: Sandbox, baseline: Baseline) -> None:
        policy = replace(KIT_POLICY, deadline=1.5)  # shorter than max_attempts × read_timeout
        connector = insurer.warm(policy)
        insurer.faults(timeout_s=policy.read_timeout + 1.0)
        elapsed = _timed(lambda: expect_error(InsurerUnavailable, lambda: connector.fetch(baseline.valid.client_ref),
                                              "fetch from an insurer that does not answer"))  # fmt: skip
        assert elapsed <= policy.deadline + SLACK, f"{elapsed:.2f} s for a deadline of {policy.deadline} s"

    def test_the_whole_fetch_is_capped(self, insurer: Sandbox, baseline: Baseline) -> None:
        policy = replace(KIT_POLICY, deadline=1.5, fetch_deadline=2.0)
        connector = insurer.warm(policy)
        ref = baseline.paged.client_ref
        whole = collect(connector.fetch_parts(ref))
        calls = len(insurer.calls())
        # Each call is slow but well within its deadline; one after the other they take twice the cap.
        cap = max(policy.deadline, policy.fetch_deadline or 0.0)
        latency = min(0.8 * policy.read_timeout, 0.5 * policy.deadline, 2 * cap / calls)
        insurer.faults(latency_ms=int(latency * 1000))
        result: list[Portfolio] = []

        def fetch() -> None:
            with contextlib.suppress(InsurerUnavailable):
                result.append(collect(connector.fetch_parts(ref)))

        elapsed = _timed(fetch)
        assert elapsed <= cap + SLACK, f"{elapsed:.2f} s for a fetch capped at {cap} s"
        if result:  # only a connector that fetches pages concurrently can finish in time
            assert _plain(result[0]) == _plain(whole)

    # --- the stream (``fetch_parts``): what the sync engine consumes ---

    @pytest.mark.parametrize("who", ["valid", "paged"])
    def test_stream_gives_what_fetch_gives(self, insurer: Sandbox, baseline: Baseline, who: str) -> None:
        ref = (baseline.valid if who == "valid" else baseline.paged).client_ref
        connector = insurer.connector()
        check = PortfolioStream(ref)
        parts = []
        for part in connector.fetch_parts(ref):
            try:
                parts.append(check.check(part))
            except ValueError as exc:
                pytest.fail(f"fetch_parts broke the stream's rules at part {len(parts) + 1}: {exc}")
        try:
            check.finish()
        except ValueError as exc:
            pytest.fail(f"fetch_parts ended a stream that breaks its rules: {exc}")
        assert _plain(collect(parts)) == _plain(connector.fetch(ref)), "fetch_parts and fetch disagree"

    def test_stream_failure_on_page_3_raises(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm(replace(KIT_POLICY, max_attempts=1))  # a retry would mend a one-off 500
        ref = baseline.paged.client_ref
        list(connector.fetch_parts(ref))
        nth = baseline.page_request(insurer.calls(), 3)
        insurer.recorder.clear()
        insurer.faults(status=500, on_request=nth, path=baseline.listing)
        expect_error(InsurerUnavailable, lambda: list(connector.fetch_parts(ref)), "fetch_parts with page 3 failing")

    def test_stream_deadline_applies_per_page(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm(replace(KIT_POLICY, deadline=1.5, fetch_deadline=30.0))
        _streams_or_skip(connector)
        ref = baseline.paged.client_ref
        whole = collect(connector.fetch_parts(ref))
        calls = len(insurer.calls())
        # Every page well within the deadline; all of them together about twice as long as it.
        latency = min(0.3 * 1.5, 2 * 1.5 / calls)
        insurer.faults(latency_ms=int(latency * 1000))
        try:
            again = collect(connector.fetch_parts(ref))
        except InsurerUnavailable as exc:
            pytest.fail(f"{calls} calls of {latency:.2f} s each failed: one deadline for every page? ({exc})")
        assert _plain(again) == _plain(whole)

    def test_stream_holds_no_operation_between_parts(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.connector()
        _streams_or_skip(connector)
        held = []
        for number, _part in enumerate(connector.fetch_parts(baseline.paged.client_ref), start=1):
            operation = current_operation()
            if operation is not None:
                held.append(f"part {number}: {operation.name!r}")
        assert_none(held, "an operation is held across a yield (its deadline leaks into the consumer)")

    def test_stream_is_lazy_and_stops_when_closed(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        _streams_or_skip(connector)
        ref = baseline.paged.client_ref

        def pages_asked() -> int:
            return sum(1 for c in insurer.calls() if c.path.startswith(baseline.listing))

        list(connector.fetch_parts(ref))
        whole = pages_asked()
        insurer.recorder.clear()
        parts = connector.fetch_parts(ref)
        for part in parts:
            if isinstance(part, PolicyPage) and part.policies:
                break
        time.sleep(0.2)  # a connector that reads ahead has asked for its next page by now
        early = len(insurer.calls())
        asked = pages_asked()
        assert asked < whole, f"the first policies came after all {whole} pages of the listing: not a stream"
        close = getattr(parts, "close", None)
        if close is not None:
            close()
        time.sleep(0.3)
        assert len(insurer.calls()) <= early + 1, "the stream went on asking for pages after it was closed"

    def test_429_waits_for_retry_after_up_to_the_cap(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        insurer.faults(rate_limit_s=1, times=1)
        portfolios: list[Portfolio] = []
        elapsed = _timed(lambda: portfolios.append(connector.fetch(baseline.valid.client_ref)))
        calls = insurer.calls()
        assert calls and calls[0].status == 429, [str(c) for c in calls]
        assert elapsed >= 0.9, f"the retry came {elapsed:.2f} s after a Retry-After of 1 s"
        assert {p.external_id for p in portfolios[0].policies} == {p.external_id for p in baseline.portfolio.policies}

    def test_429_beyond_the_cap_fails_fast(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.warm()
        insurer.faults(rate_limit_s=int(KIT_POLICY.retry_after_cap) + 1)  # beyond the cap, within the deadline
        elapsed = _timed(lambda: expect_error(InsurerUnavailable, lambda: connector.fetch(baseline.valid.client_ref),
                                              "fetch with Retry-After beyond the cap"))  # fmt: skip
        assert elapsed < 1.0, f"{elapsed:.2f} s: a Retry-After beyond the cap is not waited for"
        assert len([c for c in insurer.calls() if c.status == 429]) == 1, [str(c) for c in insurer.calls()]

    def test_breaker_opens_fails_fast_and_recovers(self, insurer: Sandbox, baseline: Baseline) -> None:
        policy = replace(KIT_POLICY, max_attempts=1)  # one failure per fetch
        connector = insurer.warm(policy)
        ref = baseline.valid.client_ref
        insurer.faults(status=503)
        for failure in range(1, policy.breaker_threshold + 1):
            before = len(insurer.calls())
            expect_error(InsurerUnavailable, lambda: connector.fetch(ref), f"fetch under 503 (failure {failure})")
            assert len(insurer.calls()) > before, f"failure {failure} did not reach the insurer: opened too early"
        before = len(insurer.calls())
        elapsed = _timed(lambda: expect_error(InsurerUnavailable, lambda: connector.fetch(ref), "open circuit"))
        assert elapsed < FAST, f"{elapsed * 1000:.0f} ms with the circuit open"
        assert len(insurer.calls()) == before, "an open circuit must not call the insurer"
        insurer.faults()  # the insurer is back
        time.sleep(policy.breaker_cooldown + 0.1)
        assert isinstance(connector.fetch(ref), Portfolio)  # the trial call closes the circuit
        before = len(insurer.calls())
        assert isinstance(connector.fetch(ref), Portfolio) and len(insurer.calls()) > before

    # --- capabilities ---

    @pytest.mark.parametrize("capability", list(Capability), ids=[c.value for c in Capability])
    def test_capability_declared_matches_behaviour(
        self, insurer: Sandbox, baseline: Baseline, capability: Capability
    ) -> None:
        connector = insurer.connector()
        if capability not in connector.capabilities:
            expect_error(NotSupported, lambda: _exercise(connector, capability, insurer.spec, baseline),
                         f"{capability.value} is not declared")  # fmt: skip
            return
        _check_capability(connector, capability, insurer.spec, baseline)

    # --- hygiene ---

    def test_no_secrets_or_tax_ids_in_logs(
        self, insurer: Sandbox, baseline: Baseline, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        for name in {"connectors", insurer.connector_cls.__module__.split(".")[0]}:
            caplog.set_level(logging.DEBUG, logger=name)
        samples = insurer.spec.samples
        connector = insurer.connector()
        connector.check()
        for tax_id, number in (samples.valid, samples.inactive, (samples.unknown, samples.valid[1])):
            connector.verify_client(tax_id, number)
        connector.fetch(baseline.valid.client_ref)
        connector.fetch(baseline.paged.client_ref)
        errors: list[str] = []
        for status, call in ((500, lambda: connector.verify_client(*samples.valid)),
                             (401, lambda: connector.fetch(baseline.valid.client_ref))):  # fmt: skip
            reset_breakers()
            insurer.faults(status=status)
            try:
                call()
            except ConnectorError as exc:
                errors.append(str(exc))
        records = [r for r in caplog.records
                   if not r.name.startswith("werkzeug") and r.thread not in insurer.recorder.threads]  # fmt: skip
        needles = {f"setting {name!r}": value for name, value in insurer.secrets().items()}
        known = (baseline.valid.tax_id, baseline.paged.tax_id)  # the IDs the insurer answered with, too
        ids = [samples.valid[0], samples.inactive[0], samples.unknown, samples.paged_client]
        for tax_id in ids + [t for t in known if t is not None]:
            needles[f"tax ID {tax_id.masked()}"] = tax_id.number
        assert_none(_leaks([*map(_record_text, records), *errors], needles), "leaked in logs or error messages")

    def test_every_call_carries_a_request_id(self, insurer: Sandbox, baseline: Baseline) -> None:
        connector = insurer.connector()
        connector.check()
        connector.verify_client(*insurer.spec.samples.valid)
        connector.fetch(baseline.valid.client_ref)
        calls = insurer.calls()
        assert_none([str(c) for c in calls if not c.request_id], "calls without an X-Request-Id header")
        assert len({c.request_id for c in calls}) == len(calls), "request ids repeat"


# --- capabilities -----------------------------------------------------------------------------------


def _active_policy(baseline: Baseline, spec: SandboxSpec) -> Policy:
    active = [p for p in baseline.portfolio.policies if p.status in ACTIVE]
    active.sort(key=lambda p: p.number != spec.samples.valid[1])
    assert active, "the valid sample client has no policy in force"
    return active[0]


def _kinds(policy: Policy) -> list[str]:
    return [c.code for c in policy.coverages if c.covered] or ["kit"]


def _report(policy: Policy, kind: str) -> ClaimReport:
    return ClaimReport(
        policy_external_id=policy.external_id,
        kind=kind,
        occurred_at=datetime.now(UTC) - timedelta(days=1),
        description="Conformance kit: a test notice of loss.",
        contact_phone="55 5555 0100",
    )


def _exercise(connector: Connector, capability: Capability, spec: SandboxSpec, baseline: Baseline) -> Any:
    """Use one capability with plausible arguments (for undeclared ones, which must raise NotSupported)."""
    policy = _active_policy(baseline, spec)
    if capability is Capability.VERIFY:
        return connector.verify_client(*spec.samples.valid)
    if capability is Capability.EMAIL_LOOKUP:
        return connector.clients_for_email(spec.samples.email_with_clients or UNKNOWN_EMAIL)
    if capability is Capability.DOCUMENTS:
        refs = [d for p in baseline.policies() for d in p.documents]
        return connector.document(refs[0] if refs else DocumentRef("kit", DocumentKind.OTHER, "Kit"))
    if capability is Capability.CLAIM_REQUIREMENTS:
        return connector.claim_requirements(policy, _kinds(policy)[0])
    if capability is Capability.REPORT_CLAIM:
        return connector.report_claim(_report(policy, _kinds(policy)[0]))
    receipts = [r for p in baseline.policies() for r in p.receipts]
    receipt = receipts[0] if receipts else Receipt("kit", datetime.now(UTC).date(), Money.of(1, "MXN"),
                                                   ReceiptStatus.PENDING)  # fmt: skip
    return connector.payment_link(receipt)


def _first_working(attempts: Iterable[tuple[str, Callable[[], Any]]], kind: type, what: str) -> Any:
    """The first result of ``kind``; NotSupported fails at once (the capability is declared)."""
    errors = []
    for label, attempt in attempts:
        try:
            result = attempt()
        except NotSupported as exc:
            pytest.fail(f"{what} is declared but raised NotSupported: {exc}")
        except (ConnectorError, ValueError) as exc:
            errors.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(result, kind):
            return result
        errors.append(f"{label}: returned {_describe(result)}")
    pytest.fail(f"{what} never worked: {errors}")


def _check_capability(connector: Connector, capability: Capability, spec: SandboxSpec, baseline: Baseline) -> None:
    samples = spec.samples
    if capability is Capability.VERIFY:
        assert isinstance(connector.verify_client(*samples.valid), ClientMatch)
    elif capability is Capability.EMAIL_LOOKUP:
        assert samples.email_with_clients, "email lookup is declared: set SandboxSamples.email_with_clients"
        found = connector.clients_for_email(samples.email_with_clients)
        assert found and all(isinstance(c, ClientMatch) for c in found), f"clients_for_email returned {found!r}"
        assert connector.clients_for_email(UNKNOWN_EMAIL) == []
    elif capability is Capability.DOCUMENTS:
        refs = [d for p in baseline.policies() for d in p.documents]
        refs += [d for c in baseline.portfolio.claims + baseline.paged_portfolio.claims for d in c.documents]
        assert refs, "documents are declared but no fetched policy or claim lists a document"
        ref = next((r for r in refs if r.media_type == "application/pdf"), refs[0])
        document = connector.document(ref)
        assert isinstance(document, Document) and document.content
        if ref.media_type == "application/pdf":
            assert document.content.startswith(b"%PDF"), f"{ref.ref} is not a PDF: {document.content[:16]!r}"
    elif capability is Capability.CLAIM_REQUIREMENTS:
        policy = _active_policy(baseline, spec)
        attempts = [(k, lambda k=k: connector.claim_requirements(policy, k)) for k in _kinds(policy)]
        result = _first_working(attempts, ClaimRequirements, f"claim_requirements for policy {policy.number}")
        assert result.documents or result.steps, "claim requirements with no documents and no steps"
    elif capability is Capability.REPORT_CLAIM:
        policy = _active_policy(baseline, spec)
        reports = [(k, lambda k=k: connector.report_claim(_report(policy, k))) for k in _kinds(policy)]
        receipt = _first_working(reports, ClaimReceipt, f"report_claim on policy {policy.number}")
        assert receipt.claim_number.strip()
    elif capability is Capability.PAYMENT_LINK:
        pending = [r for p in baseline.policies() if p.status in ACTIVE for r in p.receipts
                   if r.status in (ReceiptStatus.PENDING, ReceiptStatus.OVERDUE)]  # fmt: skip
        assert pending, "payment links are declared but no fetched policy in force has a pending receipt"
        link = connector.payment_link(pending[0])
        assert isinstance(link, PaymentLink) and link.url.startswith(("https://", "http://"))


# --- the factory ------------------------------------------------------------------------------------


def conformance_tests(*connector_classes: type[Connector]) -> type[ConformanceSuite]:
    """The suite as a pytest class, run once per connector (test ids: slugs). Bind it to a ``Test*`` name."""
    if not connector_classes:
        raise ValueError("conformance_tests() needs at least one connector: an empty suite would pass silently")
    classes = list(connector_classes)
    slugs = [str(getattr(c, "slug", c.__name__)) for c in classes]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"two connectors share a slug: {slugs}")

    class ConformanceTests(ConformanceSuite):
        __test__ = True

        @pytest.fixture(scope="class", params=classes, ids=slugs)
        @classmethod
        def connector_cls(cls, request: pytest.FixtureRequest) -> type[Connector]:
            """The connector under test."""
            return cast(type[Connector], request.param)  # type: ignore[attr-defined]

    return ConformanceTests
