"""One module per `consentry` command, each with `register(subparsers)` (its options and help) and `run(args)`.

`consentry.cli.main` finds them here (its ORDER keeps the help's order). A
command module imports only `argparse` and `consentry.cli.options` at the top:
the bodies it calls load inside `run`, so `consentry --help` stays quick.
"""
