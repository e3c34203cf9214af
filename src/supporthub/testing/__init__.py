"""Test support shipped with supporthub: the adapter contract suite and CRM simulators.

* :class:`AdapterContract`: subclass it in a test module to check an adapter
  against every rule of the adapter contract (:data:`CONTRACT_RULES`);
* :class:`ContractSimulator`: what the suite needs of a CRM simulator;
* :mod:`supporthub.testing.sim`: the parts to build such a simulator from;
* :mod:`supporthub.testing.pytest_plugin`: fixtures (``database_url``),
  installed as a ``pytest11`` plug-in.
"""

from typing import TYPE_CHECKING, Any

# The contract suite is built on pytest; the simulators below this package are
# not, and run where pytest is not installed (``supporthub demo``). So the
# suite is imported on first use, not when the package is.
if TYPE_CHECKING:
    from supporthub.testing._contract import (
        CONTRACT_RULES,
        FAST_RETRIES,
        AdapterContract,
        ContractHarness,
        ContractSimulator,
        WritableSimulator,
        contract_failure,
    )

__all__ = [
    "CONTRACT_RULES",
    "FAST_RETRIES",
    "AdapterContract",
    "ContractHarness",
    "ContractSimulator",
    "WritableSimulator",
    "contract_failure",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from supporthub.testing import _contract  # noqa: PLC0415 - needs pytest

        return getattr(_contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
