"""Layer 6: bundles — a synced, fingerprinted local copy of a flow's reviewed assets.

``manifest`` loads and validates a bundle manifest, ``sources`` lists and reads the files of a
bundle source, ``fingerprint`` computes the predecessor-compatible fingerprint, ``sync`` stages
the files into the content-addressed cache and switches the active directory atomically, and
``wiring`` turns a synced bundle into the env keys, profiles file and plugin plan of a run.
"""
