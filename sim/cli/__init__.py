"""The command line: one entry point (``buyer-journey``, or ``python run.py``) with a
subcommand per capability."""
