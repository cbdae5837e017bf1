"""The model's components, listed once: the mechanisms (modules) and the channels (their registry).

The schema, the metric registry and the day's schedule are all assembled from this list and the
declarations in each component (``SECTION``, ``PARAMS``, ``FLOWS``, ``STOCKS``, ``STEPS``).
"""

from __future__ import annotations

from types import ModuleType

from sim.engine.channels import channel_modules
from sim.engine.mechanisms import (
    after_sale,
    decision,
    diffusion,
    need,
    research,
    sales,
    word_of_mouth,
)

#: The market's mechanisms (their order here is only the order of listings; the day's order is STEPS).
MECHANISMS: tuple[ModuleType, ...] = (need, sales, research, word_of_mouth, decision, diffusion, after_sale)


def components() -> tuple[ModuleType, ...]:
    """Every mechanism module, then every channel module (in ``CHANNELS`` order)."""
    return MECHANISMS + tuple(channel_modules())
