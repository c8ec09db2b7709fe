"""The operators' dashboard: one module per page."""
