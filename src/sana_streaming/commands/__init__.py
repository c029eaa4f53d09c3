"""The ``sana-streaming`` subcommands, one module per area; ``cli.py`` assembles them."""
