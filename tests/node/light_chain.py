"""A chain built in process for the light-client tests: real blocks, real state, signed commits.

Why not a network of processes: the light-client tests need validator-set changes at chosen
heights (elections at epoch boundaries, a double-signer jailed by evidence) and a node whose
answers they can lie about; a consensus run decides neither deterministically. Everything a
verifier can check is still real here: each block is built as the proposer builds it
(consensus/core.py), judged by `consensus.validity.check_block` with the real `ChainApp` (so
the state machine executes it and the replica's header rules hold), committed by the real
`Chain`, and certified by precommits signed with the validators' own keys over the vote sign
bytes of consensus/types.py. Only the gossip of votes is skipped: every validator of a height
signs its block.

`LightChain.parts()` is the runtime's side of `node.service.NodeService`, so a real RPC server
answers from this chain exactly as from a node.

Two chains are built on it: `election_chain` (a set that changes four times in 22 blocks,
by elections and by evidence, for the lying-node, document-verifier and browser tests) and
`DevLightChain` (the localnet's dev keys, elections voted every epoch for as long as asked,
optionally a large state on a given store: the proof tests, tests/vectors/generate.py and
bench/light.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus.params import ConsensusParams
from consensus.types import (
    PRECOMMIT,
    Block,
    BlockHeader,
    Commit,
    DuplicateVoteEvidence,
    Vote,
    commit_hash,
    evidence_hash,
    tx_root,
)
from consensus.validators import ValidatorSet
from consensus.validity import HeightContext, check_block
from state.app import ChainApp, as_evidence
from state.chain import Chain
from state.crypto import Signer, sha256
from state.devkeys import LOCALNET_STATIONS, dev_signer, localnet_genesis
from state.genesis import parse_genesis
from state.genesis_builder import ValidatorSpec, genesis_doc
from state.machine import BlockInput
from state.mempool import Mempool
from state.store import MemoryStore
from state.tx import build_tx

BLOCK_MS = 1_000


@dataclass
class Actor:
    """An account that sends transactions, with its next nonce."""

    signer: Signer
    nonce: int = 0

    @property
    def address(self) -> bytes:
        return self.signer.public_key


class LightChain:
    """Blocks on demand over a genesis whose validators' consensus keys we hold.

    The proposer of height h is the deciding set's first validator, or with
    `rotate_proposer` its (h mod size)-th (the dev chain's, which its vectors were made with).
    `on_block(h)` is called once block h is committed, while h is the latest."""

    def __init__(
        self,
        doc: dict[str, Any],
        keys: dict[bytes, Signer],
        *,
        store: Any = None,
        state_history: int = 0,
        rotate_proposer: bool = False,
    ) -> None:
        self.doc = doc
        self.genesis = parse_genesis(doc)
        self.chain_id = self.genesis.chain_id
        self.keys = keys  # consensus key -> its signer (every validator that may ever sign)
        self.chain = Chain.init_genesis(
            store if store is not None else MemoryStore(), self.genesis, state_history
        )
        self.rotate_proposer = rotate_proposer
        self.on_block: Callable[[int], None] | None = None
        self.app = ChainApp(self.chain, lambda n, b: [])
        self.params = ConsensusParams()
        self.blocks: dict[int, Block] = {}
        self.commits: dict[int, Commit] = {}
        self.mempool = Mempool(self.chain.view)
        self._time_ms = self.genesis.genesis_time_ms

    # ------------------------------------------------------------------ building

    def vset(self, height: int) -> ValidatorSet:
        """The set that decides `height`, as the replica derives it from the state."""
        return ValidatorSet.from_members(self.chain.validators(height))

    def _context(self, h: int) -> HeightContext:
        if h == 1:
            return HeightContext(1, self.vset(1), None, self.chain.genesis_hash, 0, None)
        prev = self.blocks[h - 1]
        return HeightContext(
            h, self.vset(h), self.vset(h - 1), prev.hash, prev.header.time_ms, self.commits[h - 1]
        )

    def add_block(
        self, txs: list[bytes] | None = None, evidence: tuple[DuplicateVoteEvidence, ...] = ()
    ) -> Block:
        """Build, check, execute and commit the next block; every validator precommits it."""
        h = self.chain.height + 1
        ctx = self._context(h)
        self._time_ms += BLOCK_MS
        members = ctx.validators.validators
        proposer = members[h % len(members) if self.rotate_proposer else 0].consensus_key
        txs = list(txs or [])
        ex = self.chain.execute(
            _block_input(h, self._time_ms, proposer, txs, evidence), propose=True
        )
        assert list(ex.txs) == txs, "a test transaction was dropped as invalid"
        header = BlockHeader(
            chain_id=self.chain_id,
            height=h,
            time_ms=self._time_ms,
            prev_hash=ctx.prev_hash,
            proposer=proposer,
            tx_root=tx_root(txs),
            state_root=ex.state_root,
            last_commit_hash=commit_hash(ctx.last_commit),
            evidence_hash=evidence_hash(evidence),
            validators_hash=ctx.validators.hash(),
        )
        block = Block(header, tuple(txs), ctx.last_commit, evidence)
        why = check_block(block, ctx, self.chain_id, self.params, self.app, self._set_at)
        assert why is None, f"block {h} is not one a replica accepts: {why}"
        self.app.commit(h, self._time_ms, proposer, txs, evidence, ex.state_root)
        commit = self.sign_commit(block, [v.consensus_key for v in ctx.validators.validators])
        commit.verify(self.chain_id, ctx.validators)
        self.blocks[h] = block
        self.commits[h] = commit
        for r in self.chain.block_results(h)["results"]:
            assert r["code"] == 0, f"a transaction of block {h} failed: {r}"
        if self.on_block is not None:
            self.on_block(h)
        return block

    def _set_at(self, height: int) -> ValidatorSet | None:
        return self.vset(height) if 1 <= height <= self.chain.height + 1 else None

    def sign_commit(self, block: Block, signers: list[bytes], round: int = 0) -> Commit:
        sb = Vote.sign_bytes_for(self.chain_id, PRECOMMIT, block.height, round, block.hash)
        sigs = tuple(sorted((k, self.keys[k].sign(sb)) for k in signers))
        return Commit(block.height, round, block.hash, sigs)

    def double_sign(self, key: bytes, height: int) -> DuplicateVoteEvidence:
        """Evidence that `key` precommitted block `height` and another block at its round."""
        signer = self.keys[key]
        votes = []
        for bid in (self.blocks[height].hash, sha256(b"the other block")):
            sb = Vote.sign_bytes_for(self.chain_id, PRECOMMIT, height, 0, bid)
            votes.append(Vote(PRECOMMIT, height, 0, bid, key, signer.sign(sb)))
        return DuplicateVoteEvidence.of(votes[0], votes[1])

    def tx(self, actor: Actor, type: str, payload: dict[str, Any]) -> bytes:
        t = build_tx(actor.signer, self.chain_id, type, actor.nonce, 1, payload)
        actor.nonce += 1
        return t.wire

    def change_heights(self) -> list[int]:
        """Heights h >= 2 whose deciding set differs from that of h - 1."""
        return [
            h
            for h in range(2, self.chain.height + 1)
            if self.vset(h).hash() != self.vset(h - 1).hash()
        ]

    def parts(self, node_id: bytes = b"\x07" * 32) -> ChainParts:
        return ChainParts(self, node_id)


def _block_input(
    h: int, time_ms: int, proposer: bytes, txs: list[bytes], evidence: tuple[Any, ...]
) -> BlockInput:
    return BlockInput(h, time_ms, proposer, txs, as_evidence(evidence))


class ChainParts:
    """node.service.NodeParts over a LightChain (what node/runtime.py's Node gives)."""

    def __init__(self, lc: LightChain, node_id: bytes) -> None:
        self.node_id = node_id
        self._lc = lc

    def view(self, height: int | None = None) -> Any:
        chain = self._lc.chain
        return chain.view() if height is None else chain.view(height)

    @property
    def genesis(self) -> Any:
        return self._lc.genesis

    @property
    def mempool(self) -> Mempool:
        return self._lc.mempool

    @property
    def chain(self) -> Chain:
        return self._lc.chain

    def block_at(self, height: int) -> Block | None:
        return self._lc.blocks.get(height)

    def commit_at(self, height: int) -> Commit | None:
        return self._lc.commits.get(height)

    def catching_up(self) -> bool:
        return False

    def peers(self) -> list[Any]:
        return []

    def submit(self, wire: bytes) -> Any:
        return self._lc.mempool.add(wire)


# ---------------------------------------------------------------------- the election story

VALIDATORS = 4
CANDIDATES = 3  # operators that are not genesis validators
EPOCH = 4
POOL = "medical"


@dataclass
class ElectionStory:
    """What `election_chain` built: the chain and the heights where the deciding set changed."""

    lc: LightChain
    changes: list[int]
    jailed: bytes  # consensus key of the double-signer
    members: list[Actor]  # [elector, member]: both in POOL; member filed `claim`
    claim: bytes  # id of a claim with one approving vote (by the elector)
    proposal: bytes  # id of a chain proposal (by the elector)


def election_genesis(chain_id: str = "huzhu-light") -> tuple[dict[str, Any], dict[bytes, Signer]]:
    """Four genesis validators, three more operators, two electors with balances."""
    ops = [dev_signer(f"light-operator{i}") for i in range(VALIDATORS + CANDIDATES)]
    cons = [dev_signer(f"light-validator{i}") for i in range(VALIDATORS + CANDIDATES)]
    doc = genesis_doc(
        chain_id=chain_id,
        treasury=dev_signer("light-treasury").public_key,
        operators=[o.public_key for o in ops],
        params={"epoch_length": EPOCH},
        validators=[
            ValidatorSpec(f"v{i}", ops[i].public_key, cons[i].public_key, f"127.0.0.1:{30000 + i}")
            for i in range(VALIDATORS)
        ],
        accounts=[(o.public_key, 1_000) for o in ops]
        + [(dev_signer(f"light-member{i}").public_key, 1_000_000) for i in range(2)],
        pools=[
            {"id": POOL, "name": "Medical aid", "params": {"waiting_period": 0, "juror_min_age": 0}}
        ],
    )
    return doc, {c.public_key: c for c in cons}


def election_chain(chain_id: str = "huzhu-light", tail: int = 3) -> ElectionStory:
    """A chain whose deciding set changes four times (heights 6, 10, 14, 15): three elections
    and the removal of a double-signer by evidence (who is then barred from the election of 16);
    then a pool with two members (17), a claim (18) with a vote and a chain proposal (19), so
    every provable record kind is in the state.

    Epoch length 4: the election at the end of block 4k fixes the set of height 4k + 2."""
    doc, keys = election_genesis(chain_id)
    lc = LightChain(doc, keys)
    ops = [Actor(dev_signer(f"light-operator{i}")) for i in range(VALIDATORS + CANDIDATES)]
    cons = [dev_signer(f"light-validator{i}").public_key for i in range(VALIDATORS + CANDIDATES)]
    elector = Actor(dev_signer("light-member0"))
    member = Actor(dev_signer("light-member1"))
    a, b, c, d, e, f, g = (o.address for o in ops)

    def elect(*candidates: bytes) -> bytes:
        return lc.tx(elector, "elect", {"candidates": list(candidates)})

    registrations = [
        lc.tx(ops[i], "register_candidate", {"consensus_key": cons[i], "name": f"v{i}"})
        for i in range(VALIDATORS, VALIDATORS + CANDIDATES)
    ]
    lc.add_block(registrations)  # 1
    lc.add_block([elect(a, b, c, e)])  # 2: the election of 4 swaps d for e from height 6
    while lc.chain.height < 5:
        lc.add_block()
    lc.add_block([elect(a, b, e, f)])  # 6: the election of 8 swaps c for f from height 10
    while lc.chain.height < 10:
        lc.add_block()
    lc.add_block([elect(a, b, e, f, g)])  # 11: the election of 12 adds g from height 14
    lc.add_block()  # 12
    lc.add_block(evidence=(lc.double_sign(cons[5], 12),))  # 13: f removed from 15 and barred
    while lc.chain.height < 16:
        lc.add_block()
    transfer = lc.tx(member, "transfer", {"to": elector.address, "amount": 5})
    joins = [lc.tx(a, "join", {"pool": POOL}) for a in (member, elector)]
    lc.add_block([transfer, *joins])  # 17
    claim = lc.tx(member, "claim", {"pool": POOL, "amount": 300, "evidence": sha256(b"bill")})
    lc.add_block([claim])  # 18
    propose = {
        "scope": "chain",
        "changes": {"min_fee": 2},
        "title": "fees",
        "text_hash": sha256(b"fees"),
    }
    vote = lc.tx(elector, "vote", {"claim": sha256(claim), "approve": True})
    proposal_tx = lc.tx(elector, "propose", propose)
    lc.add_block([vote, proposal_tx])  # 19
    proposal = sha256(proposal_tx)
    for _ in range(tail):
        lc.add_block()
    changes = lc.change_heights()
    return ElectionStory(lc, changes, cons[5], [elector, member], sha256(claim), proposal)


# ------------------------------------------------------------ the dev chain's rotating sets

DEV_CANDIDATES = 6  # the localnet's four genesis validators and two operators that register


class DevLightChain(LightChain):
    """The localnet's dev keys (4 validators of 6 candidates); `epoch_length` sets the election
    interval. Transactions are queued with :meth:`queue` and go in the next block.
    `extra_accounts` funded accounts besides the dev ones make a state of realistic size
    (deeper proofs) for bench/light.py."""

    def __init__(
        self,
        epoch_length: int = 100,
        store: Any = None,
        state_history: int = 0,
        extra_accounts: int = 0,
    ) -> None:
        self.validator_keys = [dev_signer(f"validator{i}") for i in range(DEV_CANDIDATES)]
        self.operators = [dev_signer(f"operator{i}") for i in range(DEV_CANDIDATES)]
        doc = localnet_genesis(
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
            + [(dev_signer(n).public_key, 1_000) for n in LOCALNET_STATIONS]
            + [(sha256(i.to_bytes(8, "big")), 1) for i in range(extra_accounts)],
            params={"epoch_length": epoch_length},
        )
        keys = {s.public_key: s for s in self.validator_keys}
        super().__init__(doc, keys, store=store, state_history=state_history, rotate_proposer=True)
        self.nonces: dict[bytes, int] = {}
        self.pending: list[bytes] = []
        self._rotation = 0

    def queue(self, signer: Signer, type: str, payload: dict[str, Any]) -> bytes:
        """Queue a transaction for the next block; returns its wire bytes."""
        n = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = n + 1
        wire = build_tx(signer, self.chain_id, type, n, 1, payload).wire
        self.pending.append(wire)
        return wire

    def add_block(
        self, txs: list[bytes] | None = None, evidence: tuple[DuplicateVoteEvidence, ...] = ()
    ) -> Block:
        """The next block, of `txs` or else of the queued transactions."""
        if txs is None:
            txs, self.pending = self.pending, []
        return super().add_block(txs, evidence)

    def parts(self, node_id: bytes | None = None) -> ChainParts:
        return super().parts(self.validator_keys[0].public_key if node_id is None else node_id)

    def start_elections(self) -> None:
        """Register the two extra candidates and have member0 vote the first four."""
        for i in range(4, DEV_CANDIDATES):
            self.queue(
                self.operators[i],
                "register_candidate",
                {"consensus_key": self.validator_keys[i].public_key, "name": f"node{i}"},
            )
        self.rotate()

    def rotate(self) -> None:
        """member0 votes a different window of four candidates (a new set next election)."""
        r = self._rotation
        self._rotation += 1
        chosen = [self.operators[(r + i) % DEV_CANDIDATES].public_key for i in range(4)]
        self.queue(dev_signer("member0"), "elect", {"candidates": chosen})

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
        proposes; the rainfall stations open event 0. Returns the (claim id, proposal id)."""
        m0, m1 = dev_signer("member0"), dev_signer("member1")
        joined = self.chain.height + 1
        self.queue(m0, "join", {"pool": "medical"})
        self.queue(m1, "join", {"pool": "medical"})
        while self.chain.height < joined + 10:  # the waiting period of the localnet pool
            self.add_block()
        payload = {"scope": "chain", "changes": {"min_fee": 2}, "title": "fees"}
        prop = self.queue(m0, "propose", {**payload, "text_hash": b"\x09" * 32})
        claim = self.queue(m1, "claim", {"pool": "medical", "amount": 50, "evidence": b"\x05" * 32})
        # the rainfall pool's stations report round 0 over its threshold: an event opens at
        # the end of this block (nobody is a member there, so it reserves nothing)
        for station in LOCALNET_STATIONS:
            self.queue(
                dev_signer(station), "report", {"pool": "rainfall", "round": 0, "value": 250}
            )
        self.add_block()
        return sha256(claim), sha256(prop)
