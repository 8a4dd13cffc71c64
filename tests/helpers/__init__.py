"""Test helpers shared by several test files (servers and media made on the fly)."""
