"""Every setting and command is documented where users look for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastaw.cli import build_parser
from fastaw.config import Config

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
INTERNAL = {"testing", "config_file"}  # flags only, documented as flags


@pytest.mark.parametrize("name", sorted(set(Config.__struct_fields__) - INTERNAL))
def test_every_config_key_is_documented(name: str) -> None:
    assert f"`{name}`" in CONFIG_DOC, f"config key {name!r} is missing from docs/configuration.md"


def test_every_command_is_in_the_readme() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    for name in commands:
        assert f"fastaw {name}" in README, f"command {name!r} is missing from README.md"
