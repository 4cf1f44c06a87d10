"""Qt-free use cases. Services take and return plain values and never touch widgets."""
