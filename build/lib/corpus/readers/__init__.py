"""Readers turn input files into RawDocument records, or Rejections for what cannot be read."""
