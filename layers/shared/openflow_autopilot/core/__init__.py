"""The bottom layer: value types every other module may use; it imports nothing of the project's
but config and errors."""
