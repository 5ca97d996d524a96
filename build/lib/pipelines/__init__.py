"""Apache Beam graphs: one module per job with a ``run(argv)`` entry point."""
