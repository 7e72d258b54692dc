"""huzhu consensus: Tendermint BFT as a pure state machine (no clock, no I/O).

- :mod:`consensus.types`: votes, proposals, blocks, commit certificates, evidence (strict
  canonical encoding, domain-separated signatures);
- :mod:`consensus.validators`: validator sets and CometBFT's proposer rotation;
- :mod:`consensus.core`: Algorithm 1 of "The latest gossip on BFT consensus";
  :mod:`consensus.recovery`: what it keeps across a restart (signing record, lock, polkas);
- :mod:`consensus.replica`: the core plus block store, signing-state persistence, height
  transitions and block sync; the node runtime and the simulator drive it;
- :mod:`consensus.messages`: channels and the wire envelope; :mod:`consensus.actions`:
  what a replica asks its driver to do; :mod:`consensus.app`: the Application protocol.
"""
