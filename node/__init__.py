"""huzhu node package."""
