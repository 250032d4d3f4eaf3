"""The command line's shape: one module per command in `consentry.cli.commands`, and a `--help` that loads little."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from consentry.cli import commands
from consentry.cli.main import ORDER, build_parser, command_modules


def test_every_command_module_registers_and_runs_and_the_help_keeps_their_order() -> None:
    found = {info.name for info in pkgutil.iter_modules(commands.__path__)}
    assert found == set(ORDER)
    assert list(command_modules()) == list(ORDER)
    for module in command_modules().values():
        assert callable(module.register) and callable(module.run)
    listed = build_parser().format_help()
    positions = [listed.index(f"\n    {name} ") for name in ORDER]
    assert positions == sorted(positions)


def test_help_imports_no_aws_sdk_and_no_command_body() -> None:
    probe = (
        "import sys\n"
        "from consentry.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto', 'duckdb')]\n"
        "bodies = [m for m in sys.modules if m.startswith('consentry.cli.') and m.count('.') == 2]\n"
        "print(sorted(set(loaded)), sorted(bodies), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stderr.strip() == "[] ['consentry.cli.commands', 'consentry.cli.main', 'consentry.cli.options']"
