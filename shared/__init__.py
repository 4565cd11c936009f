"""stirmls: shared package."""
