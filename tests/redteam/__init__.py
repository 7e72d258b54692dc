"""Red-team probes against a real node (issue 14, item 5): a package, so that its conftest
does not shadow the other test directories' ``from conftest import ...``."""
