"""Upsert of 20,000 policies with coverages, as a ratio of a plain Core ``executemany`` of the same rows.

    python -m bench.upsert [--policies 20000] [--rounds 3] [--database-url postgresql+psycopg://...]

One synthetic portfolio (``synthetic_portfolio``: ~8 coverages, 4-12 receipts and 2-3 documents per
policy, realistic field sizes) is applied by ``sync.apply_portfolio`` into a fresh database with the
portal's schema, and committed: the first sync of an account, every row an insert. The baseline
inserts exactly the same rows (the column values ``apply_portfolio`` produces, hashes included,
computed beforehand and not timed) with ``conn.execute(insert(table), rows)`` into a fresh identical
schema, and commits. Ratio = baseline time / upsert time over the same row count (target ≥ 0.30).
A second line re-applies the portfolio with ~10% of the policies changed (against an idempotent
re-sync of the rest), and a third the identical portfolio again (nothing written). SQLite in a temp
directory by default; ``--database-url`` points at a PostgreSQL database (every table it holds is dropped,
the schema created afresh). Rounds are interleaved; the median is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, insert
from sqlalchemy.orm import Session

from connectors import models as cm

MX_TZ = __import__("zoneinfo").ZoneInfo("America/Mexico_City")

COVERAGES = (
    ("DM", "Daños materiales", "Valor Comercial", ("percentage", "5")),
    ("RT", "Robo total", "Valor Comercial", ("percentage", "10")),
    ("RC", "Responsabilidad civil por daños a terceros", "Límite único y combinado", ("none", None)),
    ("RCP", "Responsabilidad civil en exceso por muerte de personas", None, ("none", None)),
    ("GM", "Gastos médicos ocupantes", "Por ocupante", ("none", None)),
    ("AL", "Asistencia legal", None, ("amount", "1500.00")),
    ("AV", "Asistencia vial", None, ("none", None)),
    ("CR", "Cristales", "Valor Factura", ("percentage", "20")),
    ("EE", "Equipo especial", "Valor Convenido", ("amount", "2500.00")),
)


def synthetic_portfolio(
    client_ref: str,
    count: int,
    *,
    seed: int = 7,
    changed_every: int = 0,
    claims_every: int = 0,
    prefix: str = "POL",
) -> cm.Portfolio:
    """A valid portfolio of ``count`` auto policies; ``changed_every`` k alters every k-th policy's premium.

    Deterministic for a seed, so two calls give the same records (and the same hashes).
    """
    rng = random.Random(seed)
    today = date(2026, 6, 1)
    holder = cm.Party(name="Lucía Fernanda Ortega Ibarra", kind=cm.PartyKind.PERSON)
    policies: list[cm.Policy] = []
    claims: list[cm.Claim] = []
    for n in range(count):
        start = today - timedelta(days=rng.randrange(0, 300))
        premium_cents = rng.randrange(800_000, 4_500_000)
        if changed_every and n % changed_every == 0:
            premium_cents += 100
        receipts_count = rng.choice((4, 6, 12))
        each = premium_cents // receipts_count
        receipts = tuple(
            cm.Receipt(
                number=f"{prefix}{n:06d}-R{k + 1:02d}",
                due_date=start + timedelta(days=30 * k),
                amount=cm.Money.from_cents(each, "MXN"),
                status=cm.ReceiptStatus.PAID if k < receipts_count // 2 else cm.ReceiptStatus.PENDING,
                period_start=start + timedelta(days=30 * k),
                period_end=start + timedelta(days=30 * (k + 1) - 1),
                grace_until=start + timedelta(days=30 * k + 30),
                paid_at=datetime(2026, 1, 1, 10, 0, tzinfo=MX_TZ) + timedelta(days=30 * k)
                if k < receipts_count // 2
                else None,
                method="Domiciliación" if k < receipts_count // 2 else None,
            )
            for k in range(receipts_count)
        )
        chosen = rng.sample(COVERAGES, 8)
        coverages = []
        for code, name, basis, (kind, value) in chosen:
            if kind == "percentage" and value is not None:
                deductible = cm.Deductible(cm.DeductibleKind.PERCENTAGE, percentage=Decimal(value), basis=basis)
            elif kind == "amount" and value is not None:
                deductible = cm.Deductible(cm.DeductibleKind.AMOUNT, amount=cm.Money.of(value, "MXN"))
            else:
                deductible = cm.Deductible(cm.DeductibleKind.NONE)
            coverages.append(
                cm.Coverage(
                    code=code,
                    name=name,
                    covered=True,
                    sum_insured=cm.Money.from_cents(rng.randrange(5_000_000, 300_000_000), "MXN"),
                    sum_insured_basis=basis,
                    deductible=deductible,
                    notes="Aplica a vehículos de uso particular" if code == "EE" else None,
                )
            )
        documents = [
            cm.DocumentRef(f"doc-{prefix}{n:06d}-caratula", cm.DocumentKind.POLICY, "Carátula de la póliza"),
            cm.DocumentRef(f"doc-{prefix}{n:06d}-rc", cm.DocumentKind.RC_OBLIGATORIO, "Póliza de RC Obligatorio"),
        ]
        if n % 3 == 0:
            documents.append(
                cm.DocumentRef(f"doc-{prefix}{n:06d}-cond", cm.DocumentKind.CONDITIONS, "Condiciones generales")
            )
        external_id = f"{prefix}-{n:06d}"
        policies.append(
            cm.Policy(
                external_id=external_id,
                number=f"{rng.randrange(10**9, 10**10)}",
                line=cm.Line.AUTO,
                product="Auto Más Amplia",
                status=cm.PolicyStatus.IN_FORCE,
                insurer_status="Vigente",
                term_start=start,
                term_end=start + timedelta(days=365),
                premium=cm.Money.from_cents(premium_cents, "MXN"),
                payment_frequency=cm.PaymentFrequency.MONTHLY,
                holder=holder,
                insured=cm.Vehicle(
                    make=rng.choice(("Nissan", "Volkswagen", "Chevrolet", "Toyota", "Mazda")),
                    model=rng.choice(("Versa", "Jetta", "Aveo", "Corolla", "CX-5")),
                    year=rng.randrange(2015, 2027),
                    version="Sense TM",
                    vin=f"3N1CN7AD{n:09d}",
                    plate=f"{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}C-{n % 1000:03d}-D",
                    use="particular",
                ),
                coverages=tuple(coverages),
                receipts=receipts,
                documents=tuple(documents),
            )
        )
        if claims_every and n % claims_every == 0:
            occurred = datetime(2026, 3, 4, 10, 15, tzinfo=MX_TZ) + timedelta(hours=n)
            claims.append(
                cm.Claim(
                    external_id=f"CLM-{prefix}-{n:06d}",
                    number=f"S{n:08d}",
                    policy_external_id=external_id,
                    occurred_at=occurred,
                    reported_at=occurred + timedelta(hours=2),
                    status=cm.ClaimStatus.UNDER_REVIEW,
                    insurer_status="En valuación",
                    description="Colisión en estacionamiento",
                    coverage_code=chosen[0][0],
                    claimed_amount=cm.Money.of("23500.00", "MXN"),
                    history=(
                        cm.ClaimEvent(occurred + timedelta(hours=2), cm.ClaimStatus.OPEN, "Reportado"),
                        cm.ClaimEvent(occurred + timedelta(days=1), cm.ClaimStatus.UNDER_REVIEW, "En valuación"),
                    ),
                    documents=(cm.DocumentRef(f"doc-clm-{n}", cm.DocumentKind.CLAIM, "Carta de siniestro"),),
                )
            )
    client = cm.ClientMatch(client_ref=client_ref, name=holder.name, kind=cm.PartyKind.PERSON)
    return cm.Portfolio(client, tuple(policies), tuple(claims), datetime(2026, 6, 1, 12, 0, tzinfo=UTC))


# --- the measurement ------------------------------------------------------------------------------


@dataclasses.dataclass
class Database:
    """A fresh database with the portal's schema, an insurer and one account."""

    engine: Engine
    insurer_id: int
    account_id: int
    client_ref: str


def _fresh(url: str) -> Database:
    from aggregator.db import Base, make_engine
    from aggregator.models import ClientProfile, Insurer, InsurerAccount
    from bench.sync import reset_database

    reset_database(url)  # a used database too: every table it holds goes, whatever made it
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        insurer = Insurer(slug="bench", name="Bench", country="MX", currency="MXN")
        profile = ClientProfile(country="MX", id_type="RFC", id_number="OEIL900101AB1", name="Bench Client")
        session.add_all([insurer, profile])
        session.flush()
        account = InsurerAccount(profile_id=profile.id, insurer_id=insurer.id, client_ref="bench-client")
        session.add(account)
        session.commit()
        return Database(engine, insurer.id, account.id, account.client_ref)


@contextmanager
def _databases(database_url: str | None) -> Iterator[Callable[[], Database]]:
    """A factory of fresh databases: SQLite files in a temp dir, or the one PostgreSQL database re-created."""
    if database_url:
        yield lambda: _fresh(database_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        yield lambda: _fresh(f"sqlite:///{Path(tmp) / f'bench-{next(counter)}.db'}")


def baseline_rows(db: Database, portfolio: cm.Portfolio, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The rows ``apply_portfolio`` writes for this portfolio, with explicit policy ids, for the baseline."""
    from aggregator.services.sync import policy_rows

    rows: dict[str, list[dict[str, Any]]] = {"policies": [], "coverages": [], "receipts": [], "documents": []}
    for pid, policy in enumerate(portfolio.policies, start=1):
        r = policy_rows(policy, 0)
        rows["policies"].append(
            dict(
                r.values, id=pid, insurer_id=db.insurer_id, account_id=db.account_id, first_seen_at=now, changed_at=now
            )
        )
        rows["coverages"].extend(dict(c, policy_id=pid) for c in r.coverages)
        rows["receipts"].extend(dict(x, policy_id=pid) for x in r.receipts)
        rows["documents"].extend(dict(d, policy_id=pid) for d in r.documents)
    return rows


def time_baseline(db: Database, rows: dict[str, list[dict[str, Any]]]) -> float:
    """Seconds for a Core executemany of every row (one statement per table) and the commit."""
    from aggregator.models import Coverage, Document, Policy, Receipt

    tables = {"policies": Policy, "coverages": Coverage, "receipts": Receipt, "documents": Document}
    began = time.perf_counter()
    with db.engine.begin() as conn:
        for name, model in tables.items():
            conn.execute(insert(cast(Table, model.__table__)), rows[name])
    return time.perf_counter() - began


def time_apply(db: Database, portfolio: cm.Portfolio, now: datetime) -> tuple[float, Any]:
    """Seconds for ``apply_portfolio`` of the portfolio into the account, and the commit; and its counts."""
    from aggregator.models import InsurerAccount
    from aggregator.services.sync import apply_portfolio

    with Session(db.engine, expire_on_commit=False) as session:
        account = session.get(InsurerAccount, db.account_id)
        assert account is not None
        began = time.perf_counter()
        counts = apply_portfolio(session, account, portfolio, now)
        session.commit()
        return time.perf_counter() - began, counts


def row_count(portfolio: cm.Portfolio) -> int:
    """Policies + coverages + receipts + documents of a portfolio (no claims in the bench's)."""
    return sum(1 + len(p.coverages) + len(p.receipts) + len(p.documents) for p in portfolio.policies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default: SQLite")
    args = parser.parse_args()

    portfolio = synthetic_portfolio("bench-client", args.policies)
    changed = synthetic_portfolio("bench-client", args.policies, changed_every=10)
    rows = row_count(portfolio)
    changed_rows = sum(
        1 + len(p.coverages) + len(p.receipts) + len(p.documents) for i, p in enumerate(changed.policies) if i % 10 == 0
    )
    now = datetime.now(UTC)
    base_times: list[float] = []
    first_times: list[float] = []
    second_times: list[float] = []
    same_times: list[float] = []
    with _databases(args.database_url) as fresh:
        for _round in range(args.rounds):
            db = fresh()
            prepared = baseline_rows(db, portfolio, now)
            assert sum(len(v) for v in prepared.values()) == rows
            base_times.append(time_baseline(db, prepared))
            db.engine.dispose()

            db = fresh()
            took, counts = time_apply(db, portfolio, now)
            assert counts.added == args.policies and counts.changed == counts.removed == 0, counts
            first_times.append(took)
            took, counts = time_apply(db, changed, now + timedelta(hours=1))
            assert counts.changed == len(range(0, args.policies, 10)) and counts.added == counts.removed == 0, counts
            second_times.append(took)
            took, counts = time_apply(db, changed, now + timedelta(hours=2))
            assert counts.added == counts.changed == counts.removed == 0, counts
            same_times.append(took)
            db.engine.dispose()

    base, first = statistics.median(base_times), statistics.median(first_times)
    second, same = statistics.median(second_times), statistics.median(same_times)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\n{backend}; {args.policies} policies = {rows} rows (policies, coverages, receipts, documents)")
    print(f"median of {args.rounds} rounds\n")
    print(f"{'':44} {'seconds':>8} {'rows/s':>9} {'ratio':>6}   every round (s)")

    def line(label: str, seconds: float, count: int, runs: list[float], ratio: str = "") -> None:
        rounds = " ".join(f"{x:.2f}" for x in runs)
        print(f"{label:44} {seconds:8.2f} {count / seconds:9.0f} {ratio:>6}   {rounds}")

    line("Core executemany of the same rows (baseline)", base, rows, base_times, "1.00")
    line("apply_portfolio, first sync (all inserts)", first, rows, first_times, f"{base / first:.2f}")
    print(f"\nrows/s ratio (first sync / baseline): {base / first:.2f}   target ≥ 0.30")
    print(f"re-sync with 10% of the policies changed ({changed_rows} rows rewritten): {second:.2f} s")
    print(f"re-sync of the identical portfolio (nothing written): {same:.2f} s")


if __name__ == "__main__":
    main()
