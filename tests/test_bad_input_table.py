"""Every bad input of tests/bad_input_catalogue.py gets one line and no traceback, and
docs/bad_inputs.md is exactly the table those runs produce (it cannot go stale)."""

from __future__ import annotations

import shutil

import bad_input_catalogue as catalogue
from reliability_helpers import shared_folder


def test_every_bad_input_gets_one_line_and_the_table_is_current(tiny_weights):
    with shared_folder() as root:
        weights = root / "tiny.safetensors"
        shutil.copy(tiny_weights, weights)
        rows = catalogue.run_all(root, weights)
        for _, kind, how, outcome in rows:
            assert not outcome.traceback, kind
            if outcome.code in (0, "no error"):
                assert outcome.lines == [] and "(works)" in how, kind
                continue
            assert len(outcome.lines) == 1, (kind, outcome.lines)
            line = outcome.lines[0]
            assert len(line) < 400 and "Errno" not in line and ".prnet-" not in line, (kind, line)
            assert "Traceback" not in line and "internal error" not in line, (kind, line)
        text = catalogue.document(rows, root)
    assert catalogue.DOC.read_text(encoding="utf-8") == text, (
        "docs/bad_inputs.md is out of date: run python tests/bad_input_catalogue.py --write")
