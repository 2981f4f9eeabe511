"""Linking client profiles to users: by tax ID + active policy number, by verified email; unlinking (seed 003).

**Manual linking** (``link_by_tax_id``) asks every enabled insurer that knows the ID type, in
parallel and within ``LINK_TIMEOUT_SECONDS``. A match links the profile; anything else — an unknown
ID, a wrong or inactive policy, an insurer that is down or too slow — is *one* failure, answered
the same way. Every answer takes at least ``LINK_MIN_SECONDS``.

**Throttle** (``LinkThrottle`` rows, one per key):

- keys: the user (``link-user:<id>``), the target (``link-target:<keyed hash of type:number>``) and
  the client IP (``link-ip:<keyed hash>``); nothing raw is stored. A member linking a client for an
  organization (``services/org_clients.py``) counts against their own user key, the organization's
  (``link-org:<id>``, ``LINK_ORG_FAILURES``), the target's and the IP's: acting for an organization
  gives nobody more attempts;
- a failed proof counts against all three keys; a tax ID that is not even well-formed counts
  against the user and the IP (scripted probing) but has no target;
- each key allows ``LINK_USER_FAILURES`` / ``LINK_TARGET_FAILURES`` / ``LINK_IP_FAILURES`` failures
  per ``LINK_WINDOW_MINUTES`` (a window starts at the first attempt after the previous one ended);
- an attempt is **reserved** on every key (``reserve``: one conditional UPDATE per key, committed
  at once) before any insurer is asked, and counts as a failure until it succeeds: attempts still
  running take their place in the limit, so 25 simultaneous requests ask the insurers at most as
  many times as the limit allows (DESIGN §7); a success gives its place back (``settle_success``);
- the failure that reaches the limit locks the key for ``LINK_LOCK_MINUTES × 2^(locks so far)``,
  capped at 24 hours (15, 30, 60, ... minutes with the defaults) and starts a new count. The lock
  history is forgotten once a key has had no lock for 24 hours;
- while any of the keys is locked the attempt is refused without asking any insurer (the legitimate
  holder of a target under attack waits too — the price of not letting anyone guess); the answer
  is the same failure message plus "try again in N minutes"; a refused attempt is not counted;
- a successful link resets the user's failure count (not the target's nor the IP's).

Every attempt — linked, failed, locked, invalid — is an audit event (``profile.link``, or ``org.link``
for an organization) whose details carry the ID type and the target's keyed hash, never the number.

``prove`` is the proof shared by personal and organization linking (reserve, validate, ask every
insurer, settle); what a proof then grants is the caller's: a ``ProfileGrant`` here, an organization's
grant in ``services/org_clients.py``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import Connection, Table, and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from aggregator import jobs, mail, ratelimit
from aggregator.extensions import db
from aggregator.models import ClientProfile, GrantAccount, InsurerAccount, LinkThrottle, ProfileGrant, User
from aggregator.models.types import utcnow
from aggregator.netutil import client_ip
from aggregator.services import access, audit, insurers, sync, taxids
from connectors.base import Capability, Connector
from connectors.models import ClientMatch, TaxId

log = logging.getLogger(__name__)

T = TypeVar("T")

NOTICE = "profile_linked_notice"

MAX_LOCK = timedelta(hours=24)
LOCK_MEMORY = timedelta(hours=24)  # after this long without a lock, escalation starts over


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkResult:
    """What a linking attempt ended in; the view turns it into a page."""

    outcome: str  # linked | failed | locked | invalid
    profile_id: int | None = None
    profile_name: str | None = None
    invalid: taxids.TaxIdInvalid | None = None  # for ``invalid``: which field and why
    wait_minutes: int = 0  # for ``locked`` (and a failure that earned a lock): how long to wait
    insurers: tuple[str, ...] = ()  # slugs that matched

    @property
    def ok(self) -> bool:
        """True when the profile is now linked."""
        return self.outcome == "linked"


@dataclass
class _Linked:
    profile: ClientProfile
    new_grant: bool
    widened: bool = False  # an existing grant now covers one more insurer
    accounts: list[InsurerAccount] = field(default_factory=list)


# --- throttle -------------------------------------------------------------------------------------


def _cfg(name: str) -> Any:
    return current_app.config[name]


def user_key(user_id: int) -> str:
    """The throttle key of a user."""
    return f"link-user:{user_id}"


def target_key(tax_id: TaxId) -> str:
    """The throttle key of a target: a keyed hash of the ID type and normalised number."""
    return ratelimit.key_for("link-target", f"{tax_id.type.value}:{tax_id.number}")


def ip_key(ip: str) -> str:
    """The throttle key of a client address (hashed too)."""
    return ratelimit.key_for("link-ip", ip)


def org_key(org_id: int) -> str:
    """The throttle key of an organization: every member's attempts for it count together."""
    return f"link-org:{org_id}"


def _limit_of(key: str) -> int:
    if key.startswith("link-user:"):
        return int(_cfg("LINK_USER_FAILURES"))
    if key.startswith("link-target:"):
        return int(_cfg("LINK_TARGET_FAILURES"))
    if key.startswith("link-org:"):
        return int(_cfg("LINK_ORG_FAILURES"))
    return int(_cfg("LINK_IP_FAILURES"))


def lock_duration(locks: int) -> timedelta:
    """How long the ``locks``-th lock of a key lasts: LINK_LOCK_MINUTES doubled each time, at most a day."""
    minutes = float(_cfg("LINK_LOCK_MINUTES")) * 2 ** min(max(0, locks - 1), 16)
    return min(timedelta(minutes=minutes), MAX_LOCK)


@dataclass
class Reservation:
    """Attempts reserved on throttle keys before an insurer is asked (DESIGN §7: reserve, then work)."""

    keys: list[str]
    at: datetime
    granted: bool = True
    wait_seconds: float = 0.0  # when refused: until the longest lock ends (0 while others' attempts run)


_THROTTLE = cast(Table, LinkThrottle.__table__)


def _insert_missing(conn: Connection, keys: list[str], now: datetime) -> None:
    """Create the throttle rows that do not exist yet (INSERT ... ON CONFLICT DO NOTHING)."""
    rows = [{"key": k, "failures": 0, "window_started_at": now, "locks": 0} for k in keys]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        conn.execute(postgresql.insert(_THROTTLE).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        conn.execute(sqlite.insert(_THROTTLE).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    else:  # pragma: no cover - the portal runs on SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database {dialect}")


def reserve(keys: Iterable[str], now: datetime | None = None) -> Reservation:
    """Count one attempt against every key before the slow work, all or none, in one committed step.

    Each key takes the attempt only while it is not locked and has fewer than its limit of counted
    attempts in the window (attempts still running count: they may fail). The conditional UPDATE is
    atomic on every backend, so N simultaneous requests never get more than the limit past this
    point. The throttle is a counter outside the request's transaction (as it would be in Redis):
    it runs on a connection of its own and commits at once, so that other requests see it.
    Callers reserve before they write anything in the request's session (on SQLite a pending write
    would hold the one write lock this needs).
    """
    keys = list(dict.fromkeys(keys))
    now = now or utcnow()
    window_start = now - timedelta(minutes=float(_cfg("LINK_WINDOW_MINUTES")))
    table = _THROTTLE
    c = table.c
    expired = c.window_started_at < window_start
    with db.engine.connect() as conn:
        transaction = conn.begin()
        _insert_missing(conn, keys, now)
        for key in keys:
            taken = conn.execute(
                update(table)
                .where(
                    c.key == key,
                    or_(c.locked_until.is_(None), c.locked_until <= now),
                    or_(expired, c.failures < _limit_of(key)),
                )
                .values(
                    failures=case((expired, 1), else_=c.failures + 1),
                    window_started_at=case((expired, now), else_=c.window_started_at),
                )
                .returning(c.failures)
            ).first()
            if taken is None:
                transaction.rollback()  # nothing counted: a refused attempt costs nobody anything
                until = conn.execute(
                    select(func.max(c.locked_until)).where(c.key.in_(keys), c.locked_until > now)
                ).scalar()
                wait = (until - now).total_seconds() if until is not None else 0.0
                return Reservation(keys, now, granted=False, wait_seconds=wait)
        transaction.commit()
    return Reservation(keys, now)


def settle_failure(reservation: Reservation, now: datetime | None = None) -> float:
    """The reserved attempt failed: it stays counted; a key at its limit is locked. Seconds of the longest new lock."""
    now = now or utcnow()
    table = _THROTTLE
    c = table.c
    longest = 0.0
    with db.engine.begin() as conn:
        for key in reservation.keys:
            # Of the attempts that filled the window, the first to finish locks the key and starts a
            # new count; the others were counted in that lock already.
            forget = and_(c.locked_until.is_not(None), c.locked_until < now - LOCK_MEMORY)
            locks = conn.execute(
                update(table)
                .where(c.key == key, c.failures >= _limit_of(key))
                .values(locks=case((forget, 1), else_=func.coalesce(c.locks, 0) + 1), failures=0, window_started_at=now)
                .returning(c.locks)
            ).scalar()
            if locks is None:
                continue
            duration = lock_duration(int(locks))
            conn.execute(update(table).where(c.key == key).values(locked_until=now + duration))
            longest = max(longest, duration.total_seconds())
    return longest


def settle_success(reservation: Reservation, forget: Iterable[str] = ()) -> None:
    """The reserved attempt succeeded: it is not a failure. Keys in ``forget`` lose their whole count."""
    table = _THROTTLE
    c = table.c
    forget = set(forget)
    with db.engine.begin() as conn:
        for key in reservation.keys:
            if key in forget:
                conn.execute(update(table).where(c.key == key).values(failures=0))
                continue
            # Give the attempt back, unless the count has started over since it was taken.
            conn.execute(
                update(table)
                .where(c.key == key, c.failures > 0, c.window_started_at <= reservation.at)
                .values(failures=c.failures - 1)
            )


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


# --- asking the insurers --------------------------------------------------------------------------


def _ask_all(calls: dict[str, Callable[[], T]], timeout: float) -> tuple[dict[str, T], list[str]]:
    """Run each call in parallel within ``timeout`` seconds overall; (answers by slug, slugs that failed)."""
    if not calls:
        return {}, []
    pool = ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="link")
    futures: dict[Future[T], str] = {pool.submit(fn): slug for slug, fn in calls.items()}
    done, pending = wait(futures, timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)  # a slow insurer finishes on its own; nobody waits
    answers: dict[str, T] = {}
    trouble = [futures[f] for f in pending]
    if trouble:
        log.warning("linking: %s did not answer within %.1fs", ", ".join(sorted(trouble)), timeout)
    for future in done:
        slug = futures[future]
        try:
            answers[slug] = future.result()
        except Exception as exc:  # connector errors, and anything a broken connector raises
            log.warning("linking: %s failed: %s", slug, type(exc).__name__)
            trouble.append(slug)
    return answers, sorted(trouble)


def _verifiers(tax_id: TaxId) -> dict[str, Connector]:
    return {
        slug: c
        for slug, c in sorted(insurers.connectors().items())
        if tax_id.type in c.tax_id_types and c.supports(Capability.VERIFY)
    }


def verify_everywhere(tax_id: TaxId, policy_number: str) -> tuple[list[tuple[str, ClientMatch]], list[str]]:
    """Ask every insurer that knows this ID type; (matches sorted by slug, slugs that failed or timed out)."""
    calls: dict[str, Callable[[], ClientMatch | None]] = {
        slug: partial(c.verify_client, tax_id, policy_number) for slug, c in _verifiers(tax_id).items()
    }
    answers, trouble = _ask_all(calls, float(_cfg("LINK_TIMEOUT_SECONDS")))
    matches = [(slug, m) for slug, m in sorted(answers.items()) if m is not None]
    return matches, trouble


# --- linking once proven --------------------------------------------------------------------------


def _profile_for(tax_id: TaxId, matches: list[tuple[str, ClientMatch]], ids: dict[str, int]) -> ClientProfile:
    """The profile these matches belong to: by tax ID, else the one an existing account already has, else new."""
    found = db.session.scalar(
        select(ClientProfile).where(
            ClientProfile.id_type == tax_id.type.value, ClientProfile.id_number == tax_id.number
        )
    )
    if found is not None:
        return found
    for slug, match in matches:
        account = db.session.scalar(
            select(InsurerAccount).where(
                InsurerAccount.insurer_id == ids[slug], InsurerAccount.client_ref == match.client_ref
            )
        )
        if account is not None:  # the same client, known to us by another of its IDs (RFC and CURP)
            return account.profile
    first = matches[0][1]
    try:
        with db.session.begin_nested():
            profile = ClientProfile(
                country=taxids.country_for(tax_id.type),
                id_type=tax_id.type.value,
                id_number=tax_id.number,
                kind=first.kind.value,
                name=first.name[:200],
                email=(first.email or None) and first.email[:320],
            )
            db.session.add(profile)
    except IntegrityError:  # linked by someone else at the same moment
        profile = db.session.scalars(
            select(ClientProfile).where(
                ClientProfile.id_type == tax_id.type.value, ClientProfile.id_number == tax_id.number
            )
        ).one()
    return profile


def _account_for(profile: ClientProfile, insurer_id: int, client_ref: str) -> InsurerAccount:
    by_ref = db.session.scalar(
        select(InsurerAccount).where(InsurerAccount.insurer_id == insurer_id, InsurerAccount.client_ref == client_ref)
    )
    if by_ref is not None:
        return by_ref
    by_profile = db.session.scalar(
        select(InsurerAccount).where(InsurerAccount.profile_id == profile.id, InsurerAccount.insurer_id == insurer_id)
    )
    if by_profile is not None:
        return by_profile
    try:
        with db.session.begin_nested():
            account = InsurerAccount(profile_id=profile.id, insurer_id=insurer_id, client_ref=client_ref, health="new")
            db.session.add(account)
    except IntegrityError:
        account = db.session.scalars(
            select(InsurerAccount).where(
                InsurerAccount.insurer_id == insurer_id, InsurerAccount.client_ref == client_ref
            )
        ).one()
    return account


def _grant(profile_id: int, user: User, via: str, accounts: list[InsurerAccount]) -> tuple[bool, bool]:
    """Give ``user`` a live grant on the profile covering ``accounts``; (grant is new, it covers more than before).

    A grant covers exactly what was proved (DESIGN §7): these accounts are added to it; a revoked
    grant that comes back covers only what was proved now.
    """
    grant = db.session.scalar(
        select(ProfileGrant)
        .where(ProfileGrant.profile_id == profile_id, ProfileGrant.user_id == user.id)
        .options(selectinload(ProfileGrant.accounts))
    )
    new = False
    if grant is None:
        try:
            with db.session.begin_nested():
                grant = ProfileGrant(profile_id=profile_id, user_id=user.id, role="holder", granted_via=via)
                db.session.add(grant)
            new = True
        except IntegrityError:  # the same user, twice at once
            grant = db.session.scalars(
                select(ProfileGrant).where(ProfileGrant.profile_id == profile_id, ProfileGrant.user_id == user.id)
            ).one()
    elif grant.revoked_at is not None:
        grant.revoked_at = None
        grant.granted_via = via
        grant.accounts.clear()
        db.session.flush()
        new = True
    covered = {g.account_id for g in grant.accounts}
    added = [a for a in accounts if a.id not in covered]
    for account in added:
        grant.accounts.append(GrantAccount(account_id=account.id, granted_via=via))
    return new, bool(added)


@dataclass
class Resolved:
    """The profile a proof (or an insurer's email lookup) belongs to, and the insurer accounts it matched."""

    profile: ClientProfile
    accounts: list[InsurerAccount]

    def by_profile(self) -> dict[int, list[InsurerAccount]]:
        """The accounts by the profile that holds them.

        An account found by its insurer reference may belong to the same person under another of their
        IDs (RFC and CURP): a grant goes to the profile that holds the account.
        """
        found: dict[int, list[InsurerAccount]] = {}
        for account in self.accounts:
            found.setdefault(account.profile_id, []).append(account)
        return found


def resolve(tax_id: TaxId, matches: list[tuple[str, ClientMatch]]) -> Resolved:
    """The profile and insurer accounts of these matches, created when they are new (flushed, not committed)."""
    ids = insurers.insurer_ids()
    matches = [(slug, m) for slug, m in matches if slug in ids]
    profile = _profile_for(tax_id, matches, ids)
    accounts = [_account_for(profile, ids[slug], match.client_ref) for slug, match in matches]
    db.session.flush()
    return Resolved(profile, accounts)


def _apply(user: User, tax_id: TaxId, matches: list[tuple[str, ClientMatch]], via: str) -> _Linked:
    """Profile, insurer accounts and a grant covering exactly the matched accounts; syncs queued; holders told."""
    resolved = resolve(tax_id, matches)
    profile = resolved.profile
    linked = _Linked(profile, new_grant=False, accounts=resolved.accounts)
    for profile_id, accounts in resolved.by_profile().items():
        new_grant, widened = _grant(profile_id, user, via, accounts)
        if profile_id == profile.id:
            linked.new_grant, linked.widened = new_grant, widened
        if new_grant or widened:
            _notify_holders(db.session.get(ClientProfile, profile_id) or profile, user)
    db.session.flush()
    for account in linked.accounts:
        sync.request_sync(account, "link", user.id)
    return linked


def _profiles_url() -> str | None:
    from aggregator.services.accounts import external_url

    try:
        return external_url("profiles.index")
    except RuntimeError:  # a background job without EXTERNAL_URL or a request to build links from
        return None


def _notify_holders(profile: ClientProfile, linker: User) -> None:
    """Email the profile's other live holders that it was linked to one more account (masked ID only)."""
    holders = db.session.scalars(
        select(User)
        .join(ProfileGrant, ProfileGrant.user_id == User.id)
        .where(
            ProfileGrant.profile_id == profile.id,
            ProfileGrant.revoked_at.is_(None),
            ProfileGrant.role == "holder",
            ProfileGrant.user_id != linker.id,
            User.status == "active",
        )
    ).all()
    if not holders:
        return
    url = _profiles_url()
    when = utcnow()
    for holder in holders:
        mail.send(
            holder.email,
            NOTICE,
            holder.locale,
            profile_name=profile.name,
            masked_id=profile.masked_id,
            when=when,
            profiles_url=url,
        )


# --- the proof, shared by personal and organization linking ----------------------------------------


@dataclass(frozen=True)
class Proof:
    """A tax ID proved at one or more insurers: what the caller may now grant (exactly these matches)."""

    tax_id: TaxId
    matches: list[tuple[str, ClientMatch]]  # (insurer slug, match), sorted by slug
    unavailable: list[str]  # insurers that failed or did not answer in time
    details: dict[str, Any]  # for the caller's audit event: ID type and the target's keyed hash, never the number

    @property
    def insurers(self) -> tuple[str, ...]:
        """The slugs that matched."""
        return tuple(slug for slug, _ in self.matches)


@contextmanager
def padded() -> Iterator[None]:
    """Every answer of a linking attempt takes at least ``LINK_MIN_SECONDS``: its timing reveals nothing."""
    started = time.monotonic()
    try:
        yield
    finally:
        pad = float(_cfg("LINK_MIN_SECONDS")) - (time.monotonic() - started)
        if pad > 0:
            time.sleep(pad)


def prove(
    keys: Iterable[str],
    id_type: str,
    id_number: str,
    policy_number: str,
    *,
    action: str,
    actor_id: int,
    forget: Iterable[str] = (),
    **context: Any,
) -> Proof | LinkResult:
    """Prove a tax ID with the number of one of its in-force policies, within the linking limits.

    The attempt is reserved on ``keys`` plus the target's key (one committed step) before anything is
    written in the request's session and before any insurer is asked (DESIGN §7). A refusal, a malformed
    ID and a failed proof end here, audited as ``action`` (with ``context``), as a ``LinkResult``; a proof
    gives its place back (``forget``: keys whose whole count a success clears) and returns a ``Proof``,
    which the caller turns into a grant and audits as a success.
    """
    base_keys = list(keys)
    kind = (id_type or "").strip().upper()[:8]
    try:
        tax_id: TaxId | None = taxids.validate(id_type, id_number)
        invalid = None
    except taxids.TaxIdInvalid as exc:
        tax_id, invalid = None, exc
    target = target_key(tax_id) if tax_id is not None else None
    details: dict[str, Any] = {**context, "method": "tax_id", "id_type": tax_id.type.value if tax_id else kind}
    if target is not None:
        details["target"] = target.split(":", 1)[1]

    reservation = reserve([*base_keys, target] if target else base_keys)
    if not reservation.granted:
        audit.record(action, actor_id=actor_id, outcome="locked", **details)
        return LinkResult("locked", wait_minutes=_minutes(reservation.wait_seconds))

    if tax_id is None:
        lock_s = settle_failure(reservation)
        audit.record(action, actor_id=actor_id, outcome="invalid", code=invalid.code if invalid else "", **details)
        return LinkResult("invalid", invalid=invalid, wait_minutes=_minutes(lock_s) if lock_s else 0)

    number = (policy_number or "").strip()
    try:
        matches, trouble = verify_everywhere(tax_id, number) if number else ([], [])
    except BaseException:
        settle_failure(reservation)  # whatever went wrong, the attempt was made
        raise
    if not matches:
        lock_s = settle_failure(reservation)
        audit.record(action, actor_id=actor_id, outcome="failure", unavailable=trouble, **details)
        return LinkResult("failed", wait_minutes=_minutes(lock_s) if lock_s else 0)

    settle_success(reservation, forget=forget)
    return Proof(tax_id, matches, trouble, details)


# --- manual linking -------------------------------------------------------------------------------


def link_by_tax_id(user: User, id_type: str, id_number: str, policy_number: str) -> LinkResult:
    """Link the profile proven by its tax ID and the number of one of its in-force policies."""
    with padded():
        return _link_by_tax_id(user, id_type, id_number, policy_number)


def _link_by_tax_id(user: User, id_type: str, id_number: str, policy_number: str) -> LinkResult:
    proof = prove(
        [user_key(user.id), ip_key(client_ip())],
        id_type,
        id_number,
        policy_number,
        action="profile.link",
        actor_id=user.id,
        forget=[user_key(user.id)],
    )
    if isinstance(proof, LinkResult):
        return proof
    linked = _apply(user, proof.tax_id, proof.matches, "tax_id")
    audit.record(
        "profile.link",
        actor_id=user.id,
        target_type="client_profile",
        target_id=linked.profile.id,
        outcome="success",
        insurers=list(proof.insurers),
        new_grant=linked.new_grant,
        unavailable=proof.unavailable,
        **proof.details,
    )
    return LinkResult("linked", profile_id=linked.profile.id, profile_name=linked.profile.name, insurers=proof.insurers)


# --- automatic linking by verified email ---------------------------------------------------------


def auto_link_by_email(user: User, *, relink_unlinked: bool = True) -> list[ClientProfile]:
    """Link every profile an insurer knows by the user's verified email; returns the newly linked ones.

    ``relink_unlinked`` False (the automatic run at verification) leaves alone profiles this user
    once unlinked; asked for on demand, they come back.
    """
    if not user.is_verified or user.status != "active":
        return []
    lookups: dict[str, Callable[[], list[ClientMatch]]] = {
        slug: partial(c.clients_for_email, user.email)
        for slug, c in sorted(insurers.connectors().items())
        if c.supports(Capability.EMAIL_LOOKUP)
    }
    answers, trouble = _ask_all(lookups, float(_cfg("LINK_TIMEOUT_SECONDS")))
    by_tax_id: dict[TaxId, list[tuple[str, ClientMatch]]] = {}
    for slug, found in sorted(answers.items()):
        for match in found or []:
            if match.tax_id is None:
                continue  # a profile is keyed by its tax ID: nothing to link without one
            try:
                tax_id = taxids.validate(match.tax_id.type.value, match.tax_id.number)
            except taxids.TaxIdInvalid:
                log.warning("auto-link: %s sent a malformed %s; skipped", slug, match.tax_id.type.value)
                continue
            by_tax_id.setdefault(tax_id, []).append((slug, match))
    linked: list[ClientProfile] = []
    for tax_id, matches in by_tax_id.items():
        if not relink_unlinked and _was_unlinked(user.id, tax_id):
            continue
        result = _apply(user, tax_id, matches, "email")
        audit.record(
            "profile.link",
            actor_id=user.id,
            target_type="client_profile",
            target_id=result.profile.id,
            outcome="success",
            method="email",
            id_type=tax_id.type.value,
            target=target_key(tax_id).split(":", 1)[1],
            insurers=[slug for slug, _ in matches],
            new_grant=result.new_grant,
        )
        if result.new_grant or result.widened:
            linked.append(result.profile)
    if trouble:
        log.warning("auto-link: no answer from %s", ", ".join(trouble))
    return linked


def _was_unlinked(user_id: int, tax_id: TaxId) -> bool:
    return (
        db.session.scalar(
            select(ProfileGrant.id)
            .join(ClientProfile, ClientProfile.id == ProfileGrant.profile_id)
            .where(
                ProfileGrant.user_id == user_id,
                ProfileGrant.revoked_at.is_not(None),
                ClientProfile.id_type == tax_id.type.value,
                ClientProfile.id_number == tax_id.number,
            )
        )
        is not None
    )


def queue_auto_link(user: User) -> None:
    """Look the user's (just verified) email up at every insurer in the background."""
    jobs.enqueue("auto_link", {"user_id": user.id}, lane="link", user_id=user.id)


@jobs.handler("auto_link")
def _auto_link_job(payload: dict[str, Any]) -> None:
    user = db.session.get(User, int(payload["user_id"]))
    if user is None:
        return
    auto_link_by_email(user, relink_unlinked=False)  # jobs.run_job commits, then sends the mail


# --- unlinking and listing -------------------------------------------------------------------------


def unlink(user: User, profile_id: int) -> ClientProfile:
    """Revoke this user's grant on the profile (404 when there is none); everything else stays (seed 003)."""
    profile = access.profile_or_404(user.id, profile_id)
    grant = db.session.scalars(
        select(ProfileGrant).where(
            ProfileGrant.profile_id == profile.id,
            ProfileGrant.user_id == user.id,
            ProfileGrant.revoked_at.is_(None),
        )
    ).one()
    grant.revoked_at = utcnow()
    audit.record(
        "profile.unlink", actor_id=user.id, target_type="client_profile", target_id=profile.id, outcome="success"
    )
    db.session.flush()
    return profile


@dataclass(frozen=True)
class HeldProfile:
    """A profile the user holds a live grant on, with the insurer accounts that grant covers."""

    profile: ClientProfile
    grant: ProfileGrant
    accounts: list[GrantAccount]  # each with its account and insurer loaded, in insurer order


def profiles_of(user_id: int) -> list[HeldProfile]:
    """The user's linked profiles, each with the insurers its grant covers (DESIGN §7); four statements."""
    grants = db.session.scalars(
        select(ProfileGrant)
        .join(ClientProfile, ClientProfile.id == ProfileGrant.profile_id)
        .where(ProfileGrant.user_id == user_id, ProfileGrant.revoked_at.is_(None))
        .options(
            selectinload(ProfileGrant.profile),
            selectinload(ProfileGrant.accounts).joinedload(GrantAccount.account).joinedload(InsurerAccount.insurer),
        )
        .order_by(ClientProfile.name, ClientProfile.id)
    ).all()
    return [
        HeldProfile(g.profile, g, sorted(g.accounts, key=lambda c: (c.account.insurer.name.lower(), c.account_id)))
        for g in grants
    ]
