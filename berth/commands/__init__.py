"""The `berth` sub-commands, one module per command group.

Each module has `register(subparsers)`, which adds its commands and sets their handlers; the
handlers parse nothing else and leave the work to Berth's modules (`berth.preflight`,
`berth.chart_repo`, `berth.rehearsal`, ...). Expected failures are raised as
`berth_core.errors.BerthError` (or a subclass) and reported once by `berth.cli.main`.
"""

# The order `berth --help` lists them in.
GROUPS = (
    "env",
    "local",
    "secret",
    "charts",
    "review",
    "preflight",
    "deploy_role",
    "refresher",
)
