"""The shop: its format as code, readers with validation and rejects, the store and its backends."""
