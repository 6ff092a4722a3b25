"""The README's shell examples name the portal's address once (PORTAL=...), so a portal on another
port (PORTAL_PORT) or host needs one line changed, not every command."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_api_examples_use_one_portal_variable():
    blocks = shell_blocks()
    assert any("PORTAL=http://127.0.0.1:8000" in block for block in blocks)
    for block in blocks:
        for line in block.splitlines():
            if not line.startswith("PORTAL="):
                assert not re.search(r"127\.0\.0\.1:\d+|localhost:\d+", line), line
