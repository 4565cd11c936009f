"""The client core: identity, MLS state, history, the delivery-service session (trio)."""
