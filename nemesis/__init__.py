"""``huzhu nemesis``: real node processes in network namespaces under a seeded schedule of
faults, a mutual-aid workload, and a checker that reads only RPC answers (docs/nemesis.md).

The modules: :mod:`nemesis.schedule` (the seeded, pure schedule), :mod:`nemesis.relay` (the
TCP relay that adds latency, bandwidth limits, stalls and resets), :mod:`nemesis.netns`
(namespaces, bridge, veths, iptables, tmpfs), :mod:`nemesis.workload` (clients and the
history), :mod:`nemesis.checker` (the invariants), :mod:`nemesis.runner` (one run, end to
end), :mod:`nemesis.plot` and :mod:`nemesis.cli`.
"""
