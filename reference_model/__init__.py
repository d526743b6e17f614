"""Reference models under test: DiT backbone, spatial and temporal pyramid flow matching."""
