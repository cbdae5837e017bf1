"""Account-wide stage moves: every member of an account moves together (:func:`set_account_stage`), and an
account's conversation with us closes (:func:`close_opportunities`).

The lowest of the journey's moves: the mechanisms (need, decision, sales, after the sale) and
:mod:`sim.engine.transitions` (which re-exports them) build on them, and they read and write only the population
(``model.pop``), so this module imports nothing of the engine but :mod:`sim.engine.state`.
"""

from __future__ import annotations

import numpy as np

from sim.engine.state import DORMANT, ENGAGED, EXPLORING, LOST
from sim.engine.state import STAGES as STAGE_NAMES

__all__ = ["close_opportunities", "set_account_stage"]


def close_opportunities(model, acc: np.ndarray, to_stage: int | None = None) -> None:
    """Close the accounts' open conversations; engaged buyers move to ``to_stage`` if given."""
    pop = model.pop
    if acc.size == 0:
        return
    pop.opp[acc] = False
    pop.owner[acc] = -1
    members = pop.members_of(acc)
    if to_stage is not None:
        pop.set_stage(members[pop.stage[members] == ENGAGED], to_stage)
    pop.engaged[members] = False
    pop.lead_pending[members] = False


def set_account_stage(model, acc: np.ndarray, stage: int, from_stages=(DORMANT, EXPLORING, ENGAGED, LOST)) -> np.ndarray:
    """Move every member of accounts ``acc`` whose stage is in ``from_stages`` to ``stage``;
    return the indices of the buyers moved."""
    pop = model.pop
    members = pop.members_of(acc)
    allowed = np.zeros(len(STAGE_NAMES), dtype=bool)
    allowed[list(from_stages)] = True
    members = members[allowed[pop.stage[members]]]
    pop.set_stage(members, stage)
    return members
