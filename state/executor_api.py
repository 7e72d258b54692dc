"""What the transaction rules and the end of block may use of the block executor.

:class:`state.rules.TxRules` and :class:`state.endblock.EndOfBlock` are mixins of
:class:`state.machine.BlockExecutor`: they read and write only through its overlay. This
module declares that overlay once, so the type checker holds the mixins and the executor to
the same contract (a rule calling a method the executor lacks fails ``make test``, not a block
at run time). The mixins take it as their base for the checker only, which costs nothing at
run time::

    if TYPE_CHECKING:
        from state.executor_api import ExecutorApi as _Executor
    else:
        _Executor = object

    class TxRules(_Executor): ...
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from state.model import Account, Claim, Pool, ValidatorInfo
from state.params import ChainParams

__all__ = ["ExecutorApi", "StateReader"]


class StateReader(Protocol):
    """Committed state, decoded (what the chain gives the executor)."""

    def get(self, key: bytes) -> Any: ...

    def iterate(self, prefix: bytes) -> Iterable[tuple[bytes, Any]]: ...

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]: ...


class ExecutorApi(Protocol):
    """The executor's overlay of one block, as its rules see it."""

    #: the committed state below the overlay (reads that must not see this block's changes)
    base: StateReader
    params: ChainParams
    #: the height of the block being executed
    h: int
    #: the block's events, in order
    events: list[dict[str, Any]]
    #: this block's changes so far (key -> value, None for a delete), over `base`
    writes: dict[bytes, Any]
    #: claims attested in this block (end of block decides them)
    attested: set[bytes]
    #: claims whose objections reached their quorum in this block
    objected: set[bytes]
    #: pools whose open round reached attest_quorum reports in this block
    reported: set[str]

    def get(self, key: bytes) -> Any:
        """The decoded record at `key` as this block left it so far (None: absent)."""
        ...

    def put(self, key: bytes, value: Any) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def scan(self, prefix: bytes) -> list[tuple[bytes, Any]]:
        """Live (key, value) pairs under `prefix` (a scanned family), in key order."""
        ...

    def account(self, addr: bytes) -> Account: ...

    def credit(self, addr: bytes, amount: int) -> None: ...

    def debit(self, addr: bytes, amount: int) -> None:
        """Take `amount` the rule has already checked is there."""
        ...

    def pool(self, pool_id: str) -> Pool:
        """The pool, or TxError(NOT_FOUND)."""
        ...

    def add_to_pool(self, pool: Pool, amount: int) -> None: ...

    def validators_at(self, height: int) -> tuple[ValidatorInfo, ...]:
        """The set that precommits `height`, seeing this block's end-of-block changes."""
        ...

    def _set_claim_status(
        self, c: Claim, status: str, payable_at: int | None, **changes: Any
    ) -> None:
        """Move a claim to `status` (and other `changes`), keeping the per-status listing and
        the pool's liabilities in step (TxRules)."""
        ...
