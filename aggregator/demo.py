"""The demo's data: which sandbox clients the demo user holds, and pairs left for manual linking.

Every pair is a tax ID and the number of one of that person's in-force policies in the default
sandbox (seed 2026). ``tests/integration/test_demo.py`` checks each one against the sandboxes, so
the README's table (which lists ``MANUAL_PAIRS``) cannot go stale silently.
"""

from __future__ import annotations

from typing import NamedTuple


class Pair(NamedTuple):
    insurer: str  # connector slug
    id_type: str
    id_number: str
    policy_number: str
    name: str  # who it is in the sandbox (fictional)


# Linked to demo@coberta.example by ``aggregator demo``: three people, policies at both insurers.
DEMO_PAIRS: tuple[Pair, ...] = (
    Pair("gnp", "RFC", "OIGM701110IM6", "3128878687", "Mateo Ortiz Gómez"),
    Pair("australis", "RFC", "OIGM701110IM6", "MX-MOT-2137333", "Mateo Ortiz Gómez"),
    Pair("gnp", "RFC", "CUIS5810181X3", "2134734473", "Santiago Cruz Ibarra"),
    Pair("australis", "CUIL", "27421646525", "AR-MOT-1242486", "Julieta Álvarez"),
)

# For trying "Vincular perfil" by hand (README): not linked to any demo account.
MANUAL_PAIRS: tuple[Pair, ...] = (
    Pair("gnp", "RFC", "CAOA890308JM0", "1134789837", "Ana Sofía Castillo Ortiz"),
    Pair("australis", "RFC", "CAOA890308JM0", "MX-VID-2002710", "Ana Sofía Castillo Ortiz"),
    Pair("gnp", "RFC", "DIPA920713KDA", "2120537664", "Andrea Díaz Peña"),
    Pair("australis", "RFC", "DIPA920713KDA", "MX-VID-2161090", "Andrea Díaz Peña"),
)
