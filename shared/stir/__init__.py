"""STIR credentials for MLS: certificates, PASSporTs, TNAuthList, validation (pure, no I/O)."""
