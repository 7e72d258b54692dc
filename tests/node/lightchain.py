"""A real chain built in process with genuinely signed commits, for light-client tests.

Why: verifying proofs needs headers and commits that a real validator set signed, and
following validator-set changes needs elections; running consensus over the network for
that would take minutes. Here every block is executed by the real `state.chain.Chain`,
its header is built as consensus/core.py builds one, and every validator of the block's set
precommits it with its dev key. `rotate()` makes member0 vote a different four of the six
candidates, so the next epoch's election writes another set. `LightParts` is the runtime's
side of node.service.NodeService over it (block and commit stores, no consensus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consensus.types import (
    PRECOMMIT,
    Block,
    BlockHeader,
    Commit,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from consensus.validators import ValidatorSet
from state.chain import Chain
from state.crypto import Signer, sha256
from state.devkeys import dev_signer, localnet_genesis
from state.genesis import parse_genesis
from state.genesis_builder import ValidatorSpec
from state.machine import BlockInput
from state.mempool import Mempool
from state.store import MemoryStore
from state.tx import build_tx

CANDIDATES = 6  # four genesis validators and two operators that register later


class LightChain:
    """Blocks 1.. of a 4-validator chain; `epoch_length` sets the election interval."""

    def __init__(
        self,
        epoch_length: int = 100,
        store: Any = None,
        state_history: int = 0,
        extra_accounts: int = 0,
    ) -> None:
        """`extra_accounts` funded accounts besides the dev ones make a state of realistic
        size (deeper proofs) for bench/light.py."""
        self.validator_keys = [dev_signer(f"validator{i}") for i in range(CANDIDATES)]
        self.operators = [dev_signer(f"operator{i}") for i in range(CANDIDATES)]
        self.by_key: dict[bytes, Signer] = {s.public_key: s for s in self.validator_keys}
        self.genesis_doc: dict[str, Any] = localnet_genesis(
            validators=[
                ValidatorSpec(
                    name=f"node{i}",
                    operator=self.operators[i].public_key,
                    consensus_key=self.validator_keys[i].public_key,
                    p2p=f"127.0.0.1:{27000 + i}",
                )
                for i in range(4)
            ],
            operators=[o.public_key for o in self.operators[4:]],
            accounts=[(dev_signer(f"member{i}").public_key, 1_000_000) for i in range(4)]
            + [(o.public_key, 1_000) for o in self.operators[4:]]
            + [(sha256(i.to_bytes(8, "big")), 1) for i in range(extra_accounts)],
            params={"epoch_length": epoch_length},
        )
        self.genesis = parse_genesis(self.genesis_doc)
        self.chain = Chain.init_genesis(
            store if store is not None else MemoryStore(), self.genesis, state_history
        )
        self.chain_id = self.genesis.chain_id
        self.blocks: dict[int, Block] = {}
        self.commits: dict[int, Commit] = {}
        self.nonces: dict[bytes, int] = {}
        self.pending: list[bytes] = []
        self._rotation = 0
        #: called with h after block h is committed (to capture answers while h is the latest)
        self.on_block: Callable[[int], None] | None = None

    def tx(self, signer: Signer, type: str, payload: dict[str, Any]) -> bytes:
        """Queue a transaction for the next block; returns its wire bytes."""
        n = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = n + 1
        wire = build_tx(signer, self.chain_id, type, n, 1, payload).wire
        self.pending.append(wire)
        return wire

    def start_elections(self) -> None:
        """Register the two extra candidates and have member0 vote the first four."""
        for i in range(4, CANDIDATES):
            self.tx(
                self.operators[i],
                "register_candidate",
                {"consensus_key": self.validator_keys[i].public_key, "name": f"node{i}"},
            )
        self.rotate()

    def rotate(self) -> None:
        """member0 votes a different window of four candidates (a new set next election)."""
        r = self._rotation
        self._rotation += 1
        chosen = [self.operators[(r + i) % CANDIDATES].public_key for i in range(4)]
        self.tx(dev_signer("member0"), "elect", {"candidates": chosen})

    def add_block(self) -> Block:
        h = self.chain.height + 1
        vset = ValidatorSet.from_members(self.chain.validators(h))
        txs = tuple(self.pending)
        self.pending = []
        time_ms = self.genesis.genesis_time_ms + 1000 * h
        proposer = vset.validators[h % len(vset)].consensus_key
        ex = self.chain.execute(BlockInput(h, time_ms, proposer, txs))
        prev = self.blocks.get(h - 1)
        header = BlockHeader(
            chain_id=self.chain_id,
            height=h,
            time_ms=time_ms,
            prev_hash=prev.hash if prev is not None else self.genesis.hash(),
            proposer=proposer,
            tx_root=tx_root(txs),
            state_root=ex.state_root,
            last_commit_hash=commit_hash(self.commits.get(h - 1)),
            evidence_hash=evidence_hash(()),
            validators_hash=vset.hash(),
        )
        block = Block(header, txs, self.commits.get(h - 1))
        self.chain.commit(ex)
        sb = Vote.sign_bytes_for(self.chain_id, PRECOMMIT, h, 0, block.hash)
        sigs = tuple((v.consensus_key, self.by_key[v.consensus_key].sign(sb)) for v in vset)
        self.blocks[h] = block
        self.commits[h] = Commit(h, 0, block.hash, sigs)
        if self.on_block is not None:
            self.on_block(h)
        return block

    def run_to(self, height: int, rotate_every: int = 0) -> None:
        """Add blocks up to `height`; with `rotate_every`, vote a new set that often."""
        while self.chain.height < height:
            nxt = self.chain.height + 1
            if rotate_every and nxt > 1 and nxt % rotate_every == 1:
                self.rotate()
            self.add_block()

    def populate(self) -> tuple[bytes, bytes]:
        """A member, a claim and a proposal of every kind a read proves: member0 and
        member1 join at the next block; after the waiting period member1 claims and member0
        proposes. Returns the
        (claim id, proposal id)."""
        m0, m1 = dev_signer("member0"), dev_signer("member1")
        joined = self.chain.height + 1
        self.tx(m0, "join", {"pool": "medical"})
        self.tx(m1, "join", {"pool": "medical"})
        while self.chain.height < joined + 10:  # the waiting period of the localnet pool
            self.add_block()
        payload = {"scope": "chain", "changes": {"min_fee": 2}, "title": "fees"}
        prop = self.tx(m0, "propose", {**payload, "text_hash": b"\x09" * 32})
        claim = self.tx(m1, "claim", {"pool": "medical", "amount": 50, "evidence": b"\x05" * 32})
        self.add_block()
        return sha256(claim), sha256(prop)


class LightParts:
    """node.service.NodeParts over a LightChain (no consensus, no sockets)."""

    def __init__(self, lc: LightChain) -> None:
        self.lc = lc
        self.node_id = lc.validator_keys[0].public_key
        self.genesis = lc.genesis
        self.mempool = Mempool(lc.chain.view)

    def view(self, height: int | None = None) -> Any:
        return self.lc.chain.view(height)

    def block_at(self, height: int) -> Any:
        return self.lc.blocks.get(height)

    def commit_at(self, height: int) -> Any:
        return self.lc.commits.get(height)

    def catching_up(self) -> bool:
        return False

    def peers(self) -> list[Any]:
        return []

    def submit(self, wire: bytes) -> Any:
        return self.mempool.add(wire)
