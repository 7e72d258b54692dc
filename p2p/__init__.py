"""huzhu p2p package."""
