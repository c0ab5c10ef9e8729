"""Statement handlers, one module per object family; each exports its ``RULES``."""
