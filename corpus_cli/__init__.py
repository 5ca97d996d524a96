"""The ``corpus`` command: one small module per subcommand (the top floor; nothing imports it)."""
