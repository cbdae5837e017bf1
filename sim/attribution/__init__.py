"""The measurement lab: score attribution methods against the simulator's counterfactual ground truth.

``attribution(scenario, strategy, reps)`` runs the study (``sim.attribution.lab``); the methods are in
``sim.attribution.methods``, the truth in ``sim.attribution.truth``, the outputs in
``sim.attribution.report``. ``python run.py attribution SCENARIO`` is its command.
"""

from sim.attribution.lab import AttributionResult, Study, attribution

__all__ = ["attribution", "AttributionResult", "Study"]
