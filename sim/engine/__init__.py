"""The engine: one run of the buyer-journey model.

``model`` (``JourneyModel``: builds the components, runs the day's schedule), ``state`` (buyer and
account columns), ``transitions`` (the one home of journey moves; ``stages``: the account-wide ones it
shares with the mechanisms), ``network``, ``rng`` (named random streams), ``metrics`` (daily columns
and the metric registry), ``mechanisms/`` and ``channels/`` (one module each). Nothing here imports analysis, sweeps, validation or the
command line; ``model`` alone reads ``sim.config`` (it builds a run from a validated scenario).
"""
