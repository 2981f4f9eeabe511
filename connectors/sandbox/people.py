"""A fictional population shared by every sandbox, deterministic from a seed.

Mexican people carry RFC and CURP with valid check digits, Argentine people DNI and CUIL,
companies RFC or CUIT. Several sandboxes draw from the same population so that one person can
be a client of more than one insurer (same tax ID): the portal's unified view needs that.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from stdnum.ar import cuit as ar_cuit
from stdnum.mx import curp as mx_curp
from stdnum.mx import rfc as mx_rfc

MX_GIVEN_F = ["María José", "Ana Sofía", "Guadalupe", "Fernanda", "Ximena", "Lucía", "Valeria", "Renata",
              "Itzel", "Mariana", "Daniela", "Regina", "Citlali", "Paola", "Andrea", "Camila"]  # fmt: skip
MX_GIVEN_M = ["José Luis", "Juan Carlos", "Miguel Ángel", "Santiago", "Emiliano", "Diego", "Alejandro",
              "Luis Fernando", "Ricardo", "Iker", "Jesús", "Rodrigo", "Mateo", "Óscar", "Héctor", "Raúl"]  # fmt: skip
MX_SURNAMES = ["Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
               "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez", "Torres",
               "Díaz", "Gutiérrez", "Ruiz", "Mendoza", "Aguilar", "Ortiz", "Castillo", "Núñez", "Peña",
               "Ibarra", "Villaseñor", "Xicoténcatl", "Zúñiga"]  # fmt: skip
MX_STATES = ["DF", "JC", "NL", "PL", "VZ", "GT", "MC", "YN", "QT", "SL", "CH", "BC"]
AR_GIVEN_F = ["Martina", "Florencia", "Agustina", "Camila", "Sofía", "Valentina", "Milagros", "Julieta"]
AR_GIVEN_M = ["Santiago", "Matías", "Facundo", "Tomás", "Joaquín", "Nicolás", "Lautaro", "Ignacio"]
AR_SURNAMES = ["González", "Rodríguez", "Fernández", "López", "Martínez", "Pérez", "Gómez", "Díaz",
               "Sosa", "Romero", "Álvarez", "Benítez", "Acosta", "Medina", "Herrera", "Giménez"]  # fmt: skip
MX_COMPANIES = ["Abarrotes La Esperanza", "Transportes del Bajío", "Constructora Cerro Alto",
                "Tecnologías Nopal", "Servicios Médicos Ajusco", "Panificadora San Ángel",
                "Logística Pacífico Norte", "Consultores Xochimilco", "Distribuidora Huasteca",
                "Talleres Unidos de Monterrey", "Agroindustrias Tierra Fértil", "Hotelera Bahía Azul"]  # fmt: skip
AR_COMPANIES = ["Estudio Contable Pampa", "Agropecuaria Los Ceibos", "Transportes Patagonia",
                "Software del Litoral", "Bodega Cerro Colorado", "Frigorífico La Estancia",
                "Consultora Río de la Plata", "Textil Norte Grande"]  # fmt: skip
MX_SUFFIXES = ["S.A. de C.V.", "S. de R.L. de C.V.", "S.A.P.I. de C.V.", "S.C."]
AR_SUFFIXES = ["S.A.", "S.R.L.", "S.A.S."]
DOMAINS = ["example.com", "example.org", "correo.example", "mail.example"]
HOMOCLAVE = "123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Person:
    """A fictional natural person."""

    key: str  # stable across sandboxes: "mx-0007", "ar-0003"
    country: str  # MX | AR
    given: str
    paternal: str
    maternal: str | None
    birth_date: date
    sex: str  # H | M (as CURP writes it)
    email: str
    phone: str
    rfc: str | None = None
    curp: str | None = None
    dni: str | None = None
    cuil: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given, self.paternal, self.maternal) if p)


@dataclass(frozen=True)
class Company:
    """A fictional legal person."""

    key: str
    country: str
    name: str
    founded: date
    email: str
    phone: str
    rfc: str | None = None
    cuit: str | None = None


@dataclass(frozen=True)
class Population:
    mexicans: tuple[Person, ...]
    argentines: tuple[Person, ...]
    mexican_companies: tuple[Company, ...]
    argentine_companies: tuple[Company, ...]


def _plain(text: str) -> str:
    """Upper case A–Z only, as RFC and CURP write names (Ñ becomes X)."""
    text = text.upper().replace("Ñ", "X")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if "A" <= c <= "Z" or c == " ")


def _first_vowel(word: str) -> str:
    return next((c for c in word[1:] if c in "AEIOU"), "X")


def _first_consonant(word: str) -> str:
    return next((c for c in word[1:] if c not in "AEIOU"), "X")


def _given_for_codes(given: str) -> str:
    # José and María are skipped when followed by another name (the RFC and CURP rules).
    parts = _plain(given).split()
    return parts[1] if len(parts) > 1 and parts[0] in ("JOSE", "MARIA", "MA", "J") else parts[0]


def _mx_codes(rng: random.Random, given: str, paternal: str, maternal: str | None, birth: date, sex: str,
              state: str) -> tuple[str, str]:  # fmt: skip
    pat, mat, giv = _plain(paternal).split()[0], _plain(maternal or "X").split()[0], _given_for_codes(given)
    letters = pat[0] + _first_vowel(pat) + mat[0] + giv[0]
    ymd = birth.strftime("%y%m%d")
    for attempt in range(50):
        head = letters if attempt == 0 else letters[:3] + "X"  # an unfortunate word gets an X
        homo = rng.choice(HOMOCLAVE) + rng.choice(HOMOCLAVE)
        rfc_base = head + ymd + homo
        rfc = rfc_base + mx_rfc.calc_check_digit(rfc_base)
        differentiator = "0" if birth.year < 2000 else "A"
        curp_base = (
            head + ymd + sex + state + _first_consonant(pat) + _first_consonant(mat) + _first_consonant(giv)
            + differentiator
        )  # fmt: skip
        curp = curp_base + mx_curp.calc_check_digit(curp_base + "0")
        if mx_rfc.is_valid(rfc) and mx_curp.is_valid(curp):
            return rfc, curp
    raise RuntimeError(f"could not build valid codes for {given} {paternal}")


def _company_rfc(rng: random.Random, name: str, founded: date) -> str:
    words = [w for w in _plain(name).split() if w not in ("DE", "DEL", "LA", "LOS", "LAS", "Y", "EL")]
    letters = "".join(w[0] for w in words[:3]).ljust(3, "X")
    for _ in range(50):
        base = letters + founded.strftime("%y%m%d") + rng.choice(HOMOCLAVE) + rng.choice(HOMOCLAVE)
        rfc = base + mx_rfc.calc_check_digit(base)
        if mx_rfc.is_valid(rfc):
            return rfc
    raise RuntimeError(f"could not build an RFC for {name}")


def _cuit(prefix: str, number: str) -> str:
    """CUIT/CUIL with its check digit; a check of 10 moves the prefix to 23 or 33 (AFIP's rule)."""
    digit = ar_cuit.calc_check_digit(prefix + number)
    if digit == "-" or not (prefix + number + digit).isdigit() or not ar_cuit.is_valid(prefix + number + digit):
        prefix = "23" if prefix in ("20", "27") else "33"
        digit = ar_cuit.calc_check_digit(prefix + number)
    value = prefix + number + digit
    if not ar_cuit.is_valid(value):
        raise RuntimeError("could not build a CUIT")
    return value


def _slug(text: str) -> str:
    """'Núñez' → 'nunez' (for email addresses)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum() or c == " ").split()[0]


def _email(rng: random.Random, given: str, paternal: str, n: int) -> str:
    local = f"{_slug(given)}.{_slug(paternal)}{n}"
    return f"{local}@{rng.choice(DOMAINS)}"


def _birth(rng: random.Random) -> date:
    return date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))


def _mx_phone(rng: random.Random) -> str:
    return f"55 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"


def _ar_phone(rng: random.Random) -> str:
    return f"11 {rng.randrange(2000, 6999)}-{rng.randrange(1000, 9999)}"


@lru_cache(maxsize=8)
def population(seed: int = 2026, mexicans: int = 60, argentines: int = 30) -> Population:
    """The same people for the same arguments, in every sandbox and every run."""
    rng = random.Random(seed)
    mx: list[Person] = []
    for i in range(mexicans):
        sex = rng.choice("HM")
        given = rng.choice(MX_GIVEN_M if sex == "H" else MX_GIVEN_F)
        paternal = rng.choice(MX_SURNAMES)
        maternal = None if i % 17 == 16 else rng.choice(MX_SURNAMES)  # some people have one surname
        birth = _birth(rng)
        rfc, curp = _mx_codes(rng, given, paternal, maternal, birth, sex, rng.choice(MX_STATES))
        mx.append(Person(f"mx-{i:04d}", "MX", given, paternal, maternal, birth, sex,
                         _email(rng, given, paternal, i), _mx_phone(rng), rfc=rfc, curp=curp))  # fmt: skip
    ar: list[Person] = []
    for i in range(argentines):
        sex = rng.choice("HM")
        given = rng.choice(AR_GIVEN_M if sex == "H" else AR_GIVEN_F)
        paternal = rng.choice(AR_SURNAMES)
        dni = str(rng.randrange(20_000_000, 45_000_000))
        ar.append(Person(f"ar-{i:04d}", "AR", given, paternal, None, _birth(rng), sex,
                         _email(rng, given, paternal, i), _ar_phone(rng), dni=dni,
                         cuil=_cuit("20" if sex == "H" else "27", dni)))  # fmt: skip
    mx_co = []
    for i, name in enumerate(MX_COMPANIES):
        founded = date(1985, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
        full = f"{name} {rng.choice(MX_SUFFIXES)}"
        mx_co.append(Company(f"mxco-{i:04d}", "MX", full, founded, f"contacto{i}@empresa{i}.example",
                             _mx_phone(rng), rfc=_company_rfc(rng, name, founded)))  # fmt: skip
    ar_co = []
    for i, name in enumerate(AR_COMPANIES):
        founded = date(1985, 1, 1) + timedelta(days=rng.randrange(0, 365 * 35))
        full = f"{name} {rng.choice(AR_SUFFIXES)}"
        number = str(rng.randrange(50_000_000, 72_000_000))
        ar_co.append(Company(f"arco-{i:04d}", "AR", full, founded, f"administracion{i}@firma{i}.example",
                             _ar_phone(rng), cuit=_cuit("30", number)))  # fmt: skip
    return Population(tuple(mx), tuple(ar), tuple(mx_co), tuple(ar_co))
