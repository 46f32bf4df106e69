"""Every command on a small generated world gives the outputs recorded in tests/golden/cli.json.

The file was recorded with the code before the package's redesign; where an output
changed on purpose (a fixed defect), the commit that changed it says so. To record
again: ``VIDCAP_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import golden

STORED = Path(__file__).parent / "golden" / "cli.json"

pytestmark = pytest.mark.slow


def test_every_command_gives_the_recorded_output(tmp_path):
    got = golden.run(tmp_path)
    if os.environ.get("VIDCAP_UPDATE_GOLDEN"):
        STORED.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(STORED.read_text())
    diffs = golden.compare(got, want)
    assert not diffs, "outputs differ from tests/golden/cli.json:\n" + "\n".join(diffs)
