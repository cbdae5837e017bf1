"""The day's order, as data: every component's ``STEPS``, sorted by ``order``.

``JourneyModel.step`` runs exactly this list; ``python run.py plan`` (or ``print(plan())``)
prints it. Channels' steps are bound to the model's channel instances; a channel left out of a
model (``JourneyModel(..., without_channels=...)``) has no step.
"""

from __future__ import annotations

from sim.engine.components import components
from sim.engine.declare import Step

#: The end of the day (costs of the reps, the day's stock counts, the data collector): always last.
CLOSE = Step(900, "close_day", "rep costs, stage counts, utilisation; Mesa's data collector")


def declared_steps() -> list[Step]:
    """Every component's steps and the close of the day, in the day's order (ties: an error)."""
    steps = [s for c in components() for s in c.STEPS] + [CLOSE]
    steps.sort(key=lambda s: s.order)
    for a, b in zip(steps, steps[1:]):
        if a.order == b.order:
            raise ValueError(f"steps {a.name!r} and {b.name!r} share order {a.order}: give each its own place")
    return steps


def build_schedule(model) -> list[tuple[Step, object]]:
    """``(step, callable(model))`` pairs for ``model``, in order."""
    out = []
    for s in declared_steps():
        if s.name == CLOSE.name:
            out.append((s, type(model).close_day))
        elif s.run is None:  # a channel: bound to the model's instance
            ch = model.channels.get(s.name)
            if ch is not None:
                out.append((s, ch.step))
        else:
            out.append((s, s.run))
    return out


def plan() -> str:
    """The day's order as text: one line per step (order, name, what it does)."""
    lines = ["The day, in order:"]
    for s in declared_steps():
        lines.append(f"  {s.order:>4}  {s.name:<26} {s.doc}")
    return "\n".join(lines)
