"""`ppcx-tools` subcommands; `tools.cli` assembles them."""
