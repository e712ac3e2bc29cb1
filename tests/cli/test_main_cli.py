"""The command's parser: every sub-command registered, none skipped when broken."""

import argparse
import sys
import types

import pytest

from segstudio.cli.main import COMMANDS, build_parser, is_cli_invocation


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(subparsers.choices)


def test_every_listed_command_is_registered_under_its_name():
    assert _choices(build_parser()) == list(COMMANDS)


def test_sub_commands_and_global_flags_are_the_cli_everything_else_the_app():
    for argv in (["train", "--help"], ["import-masks"], ["--version"], ["-h"]):
        assert is_cli_invocation(argv), argv
    for argv in ([], ["/some/folder"], ["--self-test"], ["--labelset", "x.json"]):
        assert not is_cli_invocation(argv), argv


def test_a_broken_sub_command_module_fails_loudly(monkeypatch):
    monkeypatch.setitem(COMMANDS, "ghost", "ghost")  # no segstudio/cli/ghost.py
    with pytest.raises(ModuleNotFoundError, match="segstudio.cli.ghost"):
        build_parser()
    broken = types.ModuleType("segstudio.cli.ghost")  # imports, but is missing its register()
    monkeypatch.setitem(sys.modules, "segstudio.cli.ghost", broken)
    with pytest.raises(AttributeError, match="register"):
        build_parser()
