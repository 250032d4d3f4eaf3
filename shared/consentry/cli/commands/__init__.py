"""The subcommands of `consentry` (see `consentry.cli`): each module does one, as data plus rendering."""
