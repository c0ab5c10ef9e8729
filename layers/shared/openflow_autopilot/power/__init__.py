"""Power concern."""
