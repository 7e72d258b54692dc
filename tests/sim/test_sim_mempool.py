"""Seeded runs drive the real mempool and tx gossip: clients' transactions are admitted or
refused by the admission checks, gossiped over the simulated network, reaped in nonce order
by proposers and rechecked out of every mempool after each block."""

from __future__ import annotations

from collections import Counter

import pytest

from consensus.messages import TXS
from sim.config import SimConfig
from sim.node import MEMPOOL_LIMITS, SimNode
from sim.run import sweep, totals
from sim.world import World
from state.tx import decode_tx

SEEDS = range(4)
BUSY = SimConfig(validators=4, heights=6, txs=6, loss=0.1, crash=True, partition=True)


@pytest.fixture(scope="module")
def worlds() -> list[World]:
    out = []
    for seed in SEEDS:
        w = World(BUSY, seed)
        rec = w.run()
        assert rec["ok"], rec
        out.append(w)
    return out


def counts(worlds: list[World]) -> Counter[str]:
    total: Counter[str] = Counter()
    for w in worlds:
        total.update(w.record()["mempool"])
    return total


def test_clients_meet_the_admission_checks(worlds: list[World]) -> None:
    c = counts(worlds)
    assert c["client_ok"] > 0
    # every client mistake of sim/clients.py is refused with its code
    for code in ("bad_nonce", "duplicate", "bad_signature", "mempool_full"):
        assert c[f"client_{code}"] > 0, (code, c)
    refused = sum(v for k, v in c.items() if k.startswith("client_") and k != "client_ok")
    assert c["submitted"] == c["client_ok"] + refused
    for w in worlds:
        for n in w.nodes:
            if n.mempool is not None:  # the future cap held, though clients kept leaving gaps
                assert n.mempool.future_count <= MEMPOOL_LIMITS.max_future_txs


def test_blocks_are_reaped_from_mempools_in_nonce_order(worlds: list[World]) -> None:
    chained = 0
    for w in worlds:
        rec = w.record()
        assert rec["committed_txs"] > 0 and rec["mempool"]["reaped"] >= rec["committed_txs"]
        node = next(n for n in w.nodes if n.up and n.replica is not None)
        assert node.replica is not None and node.chain is not None
        for h in range(1, node.chain.height + 1):
            bc = node.replica.block(h)
            assert bc is not None
            nonces: dict[bytes, list[int]] = {}
            for wire in bc[0].txs:
                t = decode_tx(wire, chain_id=w.genesis.chain_id, params=w.genesis.params)
                nonces.setdefault(t.sender, []).append(t.nonce)
            for ns in nonces.values():
                assert ns == list(range(ns[0], ns[0] + len(ns))), ns  # consecutive, ascending
                chained += len(ns) > 1
    # some sender had several pending nonces reaped into one block
    assert chained > 0


def test_every_block_is_rechecked_out_of_the_mempools(worlds: list[World]) -> None:
    c = counts(worlds)
    assert c["included"] > 0 and c["evicted"] > 0  # stale after another node's tx committed
    for w in worlds:
        for node in w.nodes:
            if not node.up:
                continue
            assert node.mempool is not None and node.chain is not None
            view = node.chain.view()
            for t in node.mempool:
                assert view.tx_result(t.hash) is None  # committed txs are gone
                assert t.nonce >= view.account(t.sender).nonce  # so are stale ones


def test_transactions_are_gossiped_over_the_simulated_network(worlds: list[World]) -> None:
    c = counts(worlds)
    assert c["gossip_batches"] > 0 and c["gossip_txs_sent"] >= c["gossip_batches"]
    assert c["gossip_ok"] > 0  # admitted by a node whose clients never saw it
    assert c["gossip_duplicate"] > 0  # the same tx from two peers, or a same-nonce rival
    for w in worlds:
        rec = w.record()
        assert rec["messages_by_kind"]["txs"] == sum(n.counts["gossip_batches"] for n in w.nodes)
        assert rec["penalties"].get("bad_tx_batch", 0) == 0  # honest batches are never garbage


def test_gossip_is_what_spreads_a_nodes_transactions() -> None:
    """Only node 0's clients submit; with the tx channel cut, only node 0 ever holds or
    proposes them; with it, the other nodes admit them from gossip and propose them too."""
    cfg = SimConfig(validators=4, heights=6, txs=4)

    def run(cut: bool) -> dict[str, int]:
        w = World(cfg, 5)
        for node in w.nodes[1:]:
            node.clients.txgen.per_block = 0
        if cut:
            real = w._send

            def send(node: SimNode, peer: bytes | None, channel: int, payload: bytes) -> None:
                if channel != TXS:
                    real(node, peer, channel, payload)

            w._send = send  # type: ignore[method-assign]  # cut the tx channel of this world
        rec = w.run()
        assert rec["ok"], rec
        others = w.nodes[1:]
        return {
            "committed": rec["committed_txs"],
            "others_admitted": sum(n.counts["gossip_ok"] for n in others),
            "others_reaped": sum(n.counts["reaped"] for n in others),
        }

    gossiped, isolated = run(False), run(True)
    assert isolated["others_admitted"] == isolated["others_reaped"] == 0
    assert gossiped["others_admitted"] > 0 and gossiped["others_reaped"] > 0
    assert gossiped["committed"] > 0 and isolated["committed"] > 0


def test_a_clients_tx_behind_a_gap_stays_with_its_node() -> None:
    """Clients leave nonce gaps (sim/clients.py GAP): such a tx is not gossiped while no node
    can execute it. Only node 0's clients submit here: the other nodes receive node 0's txs
    by gossip, and none that is behind a gap (where it would take a future slot)."""
    for seed in range(3):
        w = World(SimConfig(validators=4, heights=6, txs=6), seed)
        for node in w.nodes[1:]:
            node.clients.txgen.per_block = 0
        rec = w.run()
        assert rec["ok"], rec
        gapped = []
        for n in w.nodes:
            assert n.mempool is not None and n.chain is not None
            view = n.chain.view()
            pending = n.mempool.pending_nonce
            gapped.append(
                [t for t in n.mempool if t.nonce > pending(t.sender, view.account(t.sender).nonce)]
            )
        assert all(w.nodes[0].mempool.withheld(t.hash) for t in gapped[0])
        assert gapped[1:] == [[], [], []], f"seed {seed}: peers' copies behind a gap"
        assert sum(n.counts["gossip_ok"] for n in w.nodes[1:]) > 0
    assert gapped[0]  # node 0's clients did leave a gap the run did not fill


def test_sweep_totals_carry_the_mempool_counts() -> None:
    recs = sweep(SimConfig(validators=4, heights=3, txs=3), [0, 1], workers=1)
    tot = totals(recs)
    assert tot["committed_txs"] == sum(r["committed_txs"] for r in recs) > 0
    assert tot["mempool"]["submitted"] == sum(r["mempool"]["submitted"] for r in recs)
