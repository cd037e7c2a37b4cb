"""Data movers: object stores behind one small interface, and the transfers built on it."""
