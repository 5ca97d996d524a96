"""Filters: each decides keep, or drop with a stable snake_case reason."""
