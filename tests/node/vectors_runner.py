"""Run one case of tests/vectors/light_client.json through node/light.py (the format is
docs/protocol.md section 11, "Test vectors"); shared by the generator and the test."""

from __future__ import annotations

from typing import Any

from node.light import Follower, genesis_anchor, parse_trust


def run_case(doc: dict[str, Any], case: dict[str, Any]) -> None:
    """Raise node.light.VerifyError when the case does not verify."""
    anchor = case["anchor"]
    if anchor.get("genesis"):
        follower = Follower(genesis_anchor(doc["genesis"]))
    else:
        height, block_hash = parse_trust(anchor["trust"])
        follower = Follower.from_trust(height, block_hash, anchor["read"], anchor["validators"])
    steps = case["follow"]
    if isinstance(steps, str):
        steps = doc["follow"][steps]
    for step in steps:
        follower.follow(step["effective"], step["answer"])
    read = case["read"]
    follower.verify_read(read["kind"], read["args"], read["height"], read["answer"])
