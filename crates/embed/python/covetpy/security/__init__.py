"""Security schemes (the helper's branch provides the full package)."""
