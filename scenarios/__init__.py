"""stirmls: scenarios package."""
