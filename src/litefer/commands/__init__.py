"""One module per CLI subcommand: ``add_parser(subparsers, name)`` and ``run(args) -> exit code``."""
