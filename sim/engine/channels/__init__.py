"""Go-to-market channels: one module per channel, one small interface, one registry.

A channel module declares (see ``sim.engine.declare``) its ``PARAMS`` (under
``[channels.<name>]``), ``FLOWS``/``STOCKS``, its place in the day (``STEPS``), what switches it
off (``OFF``) and the reps' activity it spends (``REP_ACTIVITY``), and holds one ``Channel``
subclass whose ``step(model)`` runs at that place. Every dollar it spends goes to
``new_cost_<name>``; every random stream it draws is named ``<name>.*``; its receptivity column
comes from its own stream ``<name>.receptivity``, so adding a channel moves no other number.

To add a channel: write ``sim/engine/channels/<name>.py`` and add its name to ``CHANNELS``. The
order of ``CHANNELS`` is the order of the cost columns and of the TOML template; the order in
the day is each channel's ``STEPS``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

#: The channels, by module name (explicit: nothing is discovered).
CHANNELS = ("content", "email", "cold_calling", "networking", "campaigns", "social", "paid_search")


def channel_module(name: str) -> ModuleType:
    """The module of channel ``name`` (``sim.engine.channels.<name>``)."""
    return importlib.import_module(f"{__name__}.{name}")


def channel_modules() -> list[ModuleType]:
    """Every channel's module, in ``CHANNELS`` order."""
    return [channel_module(n) for n in CHANNELS]


def channel_class(name: str) -> type:
    """The ``Channel`` subclass defined in channel ``name``'s module."""
    mod = channel_module(name)
    found = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, Channel) and v is not Channel
             and v.__module__ == mod.__name__]
    if len(found) != 1:
        raise TypeError(f"{mod.__name__} must define exactly one Channel subclass, found {len(found)}")
    return found[0]


class Channel:
    name = ""

    def __init__(self, model):
        self.model = model
        self.cfg = getattr(model.cfg.channels, self.name)

    @property
    def active(self) -> bool:
        return self.cfg.budget > 0

    def spend(self, dollars) -> None:
        """Spend ``dollars`` today: one amount for every replication, or one per replication."""
        if np.ndim(dollars):
            if np.any(dollars):
                self.model.metrics.add(f"new_cost_{self.name}", np.asarray(dollars, dtype=float))
        elif dollars:
            self.model.metrics.add(f"new_cost_{self.name}", float(dollars))

    def pay_overhead(self) -> None:
        if self.active:
            self.spend(self.cfg.fixed_cost / 365.0)

    def daily_budget(self) -> float:
        return self.cfg.budget / 365.0

    def step(self, model) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def build_channels(model, without: tuple[str, ...] = ()) -> dict[str, Channel]:
    """One instance per channel (by name), but those in ``without`` (a market without them: the
    channel contract compares a switched-off channel with its absence)."""
    return {name: channel_class(name)(model) for name in CHANNELS if name not in without}
