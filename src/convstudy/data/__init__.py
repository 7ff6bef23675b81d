"""Dataset readers, synthetic archives and splits."""
