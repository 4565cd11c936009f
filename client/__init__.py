"""stirmls: client package."""
