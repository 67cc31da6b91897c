"""A small package whose own tests exercise its bugs (see ../tests)."""
