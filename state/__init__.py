"""huzhu state package."""
