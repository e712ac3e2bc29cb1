"""The docs name tests as evidence: every one they name must exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?")


@pytest.mark.parametrize("doc", ["docs/robustness.md", "docs/results.md", "docs/scaling.md"])
def test_every_test_named_in_the_docs_exists(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    missing = []
    for file, name in REFERENCE.findall(text):
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif name and not re.search(rf"^def {name}\b", path.read_text(encoding="utf-8"), re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert not missing, f"{doc} names tests that do not exist: {missing}"
