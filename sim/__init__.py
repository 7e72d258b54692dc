"""huzhu sim package."""
