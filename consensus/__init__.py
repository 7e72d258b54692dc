"""huzhu consensus package."""
