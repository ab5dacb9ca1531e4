"""File-system primitives: atomic writes, safe tree walks, free names."""
