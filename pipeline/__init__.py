"""streamdet pipeline: stages, transport, sources, sinks, supervisor."""
