"""The operator's command line (not shipped in the Lambda layer): `consentry` = `consentry.cli:main`."""

from consentry.cli.main import main

__all__ = ["main"]
