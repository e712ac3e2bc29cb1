import pytest

from segstudio.cli.main import run_cli


@pytest.fixture
def cli(capsys):
    """Runs ``segstudio ARGS`` in-process; returns (exit code, stdout, stderr)."""

    def invoke(*argv: str):
        capsys.readouterr()
        code = run_cli([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
