"""Go-to-market channels: one module per channel, one small interface.

Each channel is a ``Channel`` subclass with ``name`` (its section under ``[channels]``) and
``step(model)``, called once a day in the model's documented order. A channel pays its
``fixed_cost`` (per year, spread over days) while it has a budget, plus whatever it spends
per touch; every dollar goes to the ``new_cost_<name>`` metric.
"""

from __future__ import annotations


class Channel:
    name = ""

    def __init__(self, model):
        self.model = model
        self.cfg = getattr(model.cfg.channels, self.name)

    @property
    def active(self) -> bool:
        return self.cfg.budget > 0

    def spend(self, dollars: float) -> None:
        if dollars:
            self.model.metrics.add(f"new_cost_{self.name}", float(dollars))

    def pay_overhead(self) -> None:
        if self.active:
            self.spend(self.cfg.fixed_cost / 365.0)

    def daily_budget(self) -> float:
        return self.cfg.budget / 365.0

    def step(self, model) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def build_channels(model) -> list[Channel]:
    """The channels in step order (see ``sim.model`` for the whole day's order)."""
    from sim.engine.channels.campaigns import Campaigns
    from sim.engine.channels.cold_calling import ColdCalling
    from sim.engine.channels.content import Content
    from sim.engine.channels.email import Email
    from sim.engine.channels.networking import Networking
    from sim.engine.channels.social import Social

    return [Content(model), Campaigns(model), Email(model), Social(model), Networking(model), ColdCalling(model)]
