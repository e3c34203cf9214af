"""Test support shipped with supporthub: the adapter contract suite and CRM simulators.

* :class:`AdapterContract`: subclass it in a test module to check an adapter
  against every rule of the adapter contract (:data:`CONTRACT_RULES`);
* :class:`ContractSimulator`: what the suite needs of a CRM simulator;
* :mod:`supporthub.testing.sim`: the parts to build such a simulator from;
* :mod:`supporthub.testing.pytest_plugin`: fixtures (``database_url``),
  installed as a ``pytest11`` plug-in.
"""

from supporthub.testing._contract import (
    CONTRACT_RULES,
    FAST_RETRIES,
    AdapterContract,
    ContractHarness,
    ContractSimulator,
    contract_failure,
)

__all__ = [
    "CONTRACT_RULES",
    "FAST_RETRIES",
    "AdapterContract",
    "ContractHarness",
    "ContractSimulator",
    "contract_failure",
]
