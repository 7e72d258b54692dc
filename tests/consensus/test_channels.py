"""The channel numbers are one fact shared by consensus and the transport (state.codec)."""

from __future__ import annotations

from typing import cast

import pytest
from test_messages import MESSAGES

from consensus.messages import TXS, Message, channel_of, decode_message, encode_message
from p2p.types import CH_TX, P2PLimits
from state.codec import DecodeError

ALL = cast(list[Message], MESSAGES)  # one of each kind; inferred there as a list of objects


@pytest.mark.parametrize("msg", ALL, ids=lambda m: type(m).__name__)
def test_consensus_sends_only_where_the_transport_carries(msg: Message) -> None:
    assert channel_of(msg) in P2PLimits().channels


def test_the_tx_channel_is_the_nodes_not_consensus() -> None:
    assert TXS == CH_TX and TXS in P2PLimits().channels
    assert TXS not in {channel_of(m) for m in ALL}
    with pytest.raises(DecodeError, match="not allowed on channel 2"):
        decode_message(CH_TX, encode_message(ALL[1]))
