"""``aggregator sandbox SLUG`` serves each insurer's sandbox on real HTTP, on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from connectors.registry import discover
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("slug", ["gnp", "australis"])
def test_sandbox_command_answers_real_http(slug: str, tmp_path: Path) -> None:
    cls = discover()[slug]
    spec = cls.sandbox()
    assert spec is not None
    port = free_port()
    env = {**os.environ, "AGGREGATOR_INSTANCE_PATH": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "sandbox", slug, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                faults = requests.get(base + spec.faults_path, timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert faults.status_code == 200
        connector = cls(spec.settings_for(base))
        connector.check()  # the connector itself talks to the served sandbox
        tax_id, number = spec.samples.valid
        assert connector.verify_client(tax_id, number) is not None
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert base in output  # the command prints where it listens and the settings to use
