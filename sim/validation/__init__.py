"""Validation: the framework (plans, checks, runs, the report) and the check groups."""
