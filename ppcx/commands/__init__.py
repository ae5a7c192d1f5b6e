"""`ppcx` subcommands, one module per area; `ppcx.cli` assembles them."""
