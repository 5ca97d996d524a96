"""Composite PTransforms, one per stage, each a thin shell around a ``corpus`` function."""
