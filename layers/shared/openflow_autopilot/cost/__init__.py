"""Cost concern."""
