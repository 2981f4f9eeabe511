"""Linking client profiles to users: by tax ID + active policy number, by verified email; unlinking (seed 003).

**Manual linking** (``link_by_tax_id``) asks every enabled insurer that knows the ID type, in
parallel and within ``LINK_TIMEOUT_SECONDS``. A match links the profile; anything else — an unknown
ID, a wrong or inactive policy, an insurer that is down or too slow — is *one* failure, answered
the same way. Every answer takes at least ``LINK_MIN_SECONDS``.

**Throttle** (``LinkThrottle`` rows, one per key):

- keys: the user (``link-user:<id>``), the target (``link-target:<keyed hash of type:number>``) and
  the client IP (``link-ip:<keyed hash>``); nothing raw is stored;
- a failed proof counts against all three keys; a tax ID that is not even well-formed counts
  against the user and the IP (scripted probing) but has no target;
- each key allows ``LINK_USER_FAILURES`` / ``LINK_TARGET_FAILURES`` / ``LINK_IP_FAILURES`` failures
  per ``LINK_WINDOW_MINUTES`` (a window starts at the first failure after the previous one ended);
- the failure that reaches the limit locks the key for ``LINK_LOCK_MINUTES × 2^(locks so far)``,
  capped at 24 hours (15, 30, 60, ... minutes with the defaults) and starts a new count. The lock
  history is forgotten once a key has had no lock for 24 hours;
- while any of the keys is locked the attempt is refused without asking any insurer (the legitimate
  holder of a target under attack waits too — the price of not letting anyone guess); the answer
  is the same failure message plus "try again in N minutes"; a refused attempt is not counted;
- a successful link resets the user's failure count (not the target's nor the IP's).

Every attempt — linked, failed, locked, invalid — is an audit event ``profile.link`` whose details
carry the ID type and the target's keyed hash, never the number.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from aggregator import jobs, mail, ratelimit
from aggregator.extensions import db
from aggregator.models import ClientProfile, InsurerAccount, LinkThrottle, ProfileGrant, User
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


def _limit_of(key: str) -> int:
    if key.startswith("link-user:"):
        return int(_cfg("LINK_USER_FAILURES"))
    if key.startswith("link-target:"):
        return int(_cfg("LINK_TARGET_FAILURES"))
    return int(_cfg("LINK_IP_FAILURES"))


def lock_duration(locks: int) -> timedelta:
    """How long the ``locks``-th lock of a key lasts: LINK_LOCK_MINUTES doubled each time, at most a day."""
    minutes = float(_cfg("LINK_LOCK_MINUTES")) * 2 ** min(max(0, locks - 1), 16)
    return min(timedelta(minutes=minutes), MAX_LOCK)


def locked_seconds(keys: Iterable[str], now: datetime | None = None) -> float:
    """Seconds until every one of ``keys`` is unlocked (0 when none is locked)."""
    now = now or utcnow()
    until = db.session.scalars(
        select(LinkThrottle.locked_until).where(LinkThrottle.key.in_(list(keys)), LinkThrottle.locked_until > now)
    ).all()
    return max(((u - now).total_seconds() for u in until if u is not None), default=0.0)


def _row(key: str, now: datetime) -> LinkThrottle:
    row = db.session.get(LinkThrottle, key)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = LinkThrottle(key=key, failures=0, window_started_at=now, locks=0)
            db.session.add(row)
    except IntegrityError:  # another request created it at the same moment
        row = db.session.get(LinkThrottle, key)
        assert row is not None
    return row


def count_failure(keys: Iterable[str], now: datetime | None = None) -> float:
    """Count one failed attempt against each key; returns the seconds of the longest lock it started (0: none)."""
    now = now or utcnow()
    window = timedelta(minutes=float(_cfg("LINK_WINDOW_MINUTES")))
    longest = 0.0
    for key in keys:
        _row(key, now)
        # Atomic on every backend: start a new window when the old one is over, then count.
        db.session.execute(
            update(LinkThrottle)
            .where(LinkThrottle.key == key, LinkThrottle.window_started_at < now - window)
            .values(failures=0, window_started_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(LinkThrottle)
            .where(LinkThrottle.key == key)
            .values(failures=LinkThrottle.failures + 1)
            .execution_options(synchronize_session=False)
        )
        row = db.session.scalars(
            select(LinkThrottle).where(LinkThrottle.key == key).execution_options(populate_existing=True)
        ).one()
        if row.failures < _limit_of(key):
            continue
        if row.locked_until is not None and now - row.locked_until > LOCK_MEMORY:
            row.locks = 0
        row.locks = (row.locks or 0) + 1
        duration = lock_duration(row.locks)
        row.locked_until = now + duration
        row.failures = 0
        row.window_started_at = now
        longest = max(longest, duration.total_seconds())
    db.session.flush()
    return longest


def reset_failures(key: str) -> None:
    """Forget a key's failures in the current window (its lock history stays)."""
    db.session.execute(
        update(LinkThrottle)
        .where(LinkThrottle.key == key)
        .values(failures=0)
        .execution_options(synchronize_session=False)
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


def _grant(profile: ClientProfile, user: User, via: str) -> bool:
    """Give ``user`` a live grant on ``profile``; True when it is new (created or un-revoked)."""
    grant = db.session.scalar(
        select(ProfileGrant).where(ProfileGrant.profile_id == profile.id, ProfileGrant.user_id == user.id)
    )
    if grant is not None:
        if grant.revoked_at is None:
            return False
        grant.revoked_at = None
        grant.granted_via = via
        return True
    try:
        with db.session.begin_nested():
            db.session.add(ProfileGrant(profile_id=profile.id, user_id=user.id, role="holder", granted_via=via))
    except IntegrityError:
        return False
    return True


def _apply(user: User, tax_id: TaxId, matches: list[tuple[str, ClientMatch]], via: str) -> _Linked:
    """Profile, grant and insurer accounts for proven matches; syncs queued; other holders told."""
    ids = insurers.ensure_insurers()
    matches = [(slug, m) for slug, m in matches if slug in ids]
    profile = _profile_for(tax_id, matches, ids)
    new_grant = _grant(profile, user, via)
    linked = _Linked(profile, new_grant)
    for slug, match in matches:
        account = _account_for(profile, ids[slug], match.client_ref)
        linked.accounts.append(account)
    db.session.flush()
    for account in linked.accounts:
        sync.request_sync(account, "link", user.id)
    if new_grant:
        _notify_holders(profile, user)
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


# --- manual linking -------------------------------------------------------------------------------


def link_by_tax_id(user: User, id_type: str, id_number: str, policy_number: str) -> LinkResult:
    """Link the profile proven by its tax ID and the number of one of its in-force policies."""
    started = time.monotonic()
    try:
        return _link_by_tax_id(user, id_type, id_number, policy_number)
    finally:
        pad = float(_cfg("LINK_MIN_SECONDS")) - (time.monotonic() - started)
        if pad > 0:
            time.sleep(pad)


def _link_by_tax_id(user: User, id_type: str, id_number: str, policy_number: str) -> LinkResult:
    now = utcnow()
    base_keys = [user_key(user.id), ip_key(client_ip())]
    kind = (id_type or "").strip().upper()[:8]

    wait_s = locked_seconds(base_keys, now)
    if wait_s:
        audit.record("profile.link", actor_id=user.id, outcome="locked", method="tax_id", id_type=kind)
        return LinkResult("locked", wait_minutes=_minutes(wait_s))

    try:
        tax_id = taxids.validate(id_type, id_number)
    except taxids.TaxIdInvalid as exc:
        lock_s = count_failure(base_keys, now)
        audit.record("profile.link", actor_id=user.id, outcome="invalid", method="tax_id", id_type=kind, code=exc.code)
        return LinkResult("invalid", invalid=exc, wait_minutes=_minutes(lock_s) if lock_s else 0)

    target = target_key(tax_id)
    keys = [*base_keys, target]
    details: dict[str, Any] = {"method": "tax_id", "id_type": tax_id.type.value, "target": target.split(":", 1)[1]}
    wait_s = locked_seconds([target], now)
    if wait_s:
        audit.record("profile.link", actor_id=user.id, outcome="locked", **details)
        return LinkResult("locked", wait_minutes=_minutes(wait_s))

    number = (policy_number or "").strip()
    matches, trouble = verify_everywhere(tax_id, number) if number else ([], [])
    if not matches:
        lock_s = count_failure(keys, now)
        audit.record("profile.link", actor_id=user.id, outcome="failure", unavailable=trouble, **details)
        if lock_s:
            return LinkResult("failed", wait_minutes=_minutes(lock_s))
        return LinkResult("failed")

    linked = _apply(user, tax_id, matches, "tax_id")
    reset_failures(user_key(user.id))
    slugs = tuple(slug for slug, _ in matches)
    audit.record(
        "profile.link",
        actor_id=user.id,
        target_type="client_profile",
        target_id=linked.profile.id,
        outcome="success",
        insurers=list(slugs),
        new_grant=linked.new_grant,
        unavailable=trouble,
        **details,
    )
    return LinkResult("linked", profile_id=linked.profile.id, profile_name=linked.profile.name, insurers=slugs)


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
        if result.new_grant:
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
    auto_link_by_email(user, relink_unlinked=False)
    db.session.commit()
    mail.flush_queued(current_app._get_current_object())  # type: ignore[attr-defined]


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


def profiles_of(user_id: int) -> list[ClientProfile]:
    """The user's linked profiles with their insurer accounts and insurers (two statements)."""
    return list(
        db.session.scalars(
            select(ClientProfile)
            .where(ClientProfile.id.in_(access.visible_profiles(user_id)))
            .options(selectinload(ClientProfile.accounts).joinedload(InsurerAccount.insurer))
            .order_by(ClientProfile.name, ClientProfile.id)
        )
    )
