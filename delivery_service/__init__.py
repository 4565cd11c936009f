"""stirmls: delivery_service package."""
