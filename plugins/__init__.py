"""Plugins: small per-frame hooks run in the sink, loaded from YAML as ``module:Class``.

    plugins:
      - class: plugins.zone_filter:ZoneFilter
        params: {zone: [0, 0, 320, 240]}
      - class: plugins.class_counter:ClassCounter

See plugins/base.py for the protocol.
"""
