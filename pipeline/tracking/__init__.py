"""Multi-object tracking per stream (pipeline/tracking/base.py: the interface)."""
