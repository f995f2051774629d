"""The control hook of the year simulation: a policy acts on each plan.

Responsible for: the :class:`Policy` interface the runner calls once per
15-min period with the fresh plan and the period just measured, the
:class:`Action` it returns (which the scenario carries out on the plant),
and the registry of policies by name (``--policy``). Only ``none`` exists:
control policies (generator starts, grid charging, load shedding) and the
fields of ``Action`` they need come with the control work.

Does NOT: plan or simulate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from trainer.yearsim.scenario import NO_ACTION, Action, Measured

if TYPE_CHECKING:
    from edge.planning import EnergyPlan

__all__ = ["NO_ACTION", "POLICIES", "Action", "NoPolicy", "Policy", "make_policy"]


class Policy(Protocol):
    """Acts on the plan each period; sees only the plan and the measurements."""

    name: str

    def act(self, plan: EnergyPlan, observed: Measured) -> Action:
        """The action for the next 15-min period."""
        ...


class NoPolicy:
    """Never acts: the plan is scored as it is (``--policy none``)."""

    name = "none"

    def act(self, plan: EnergyPlan, observed: Measured) -> Action:
        """Always :data:`NO_ACTION`."""
        return NO_ACTION


#: ``--policy`` name -> factory
POLICIES: dict[str, Callable[[], Policy]] = {"none": NoPolicy}


def make_policy(name: str) -> Policy:
    """The policy called ``name``; raises ValueError naming the known ones."""
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}") from None
