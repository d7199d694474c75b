"""Checks of the registry room; importing this module registers them."""
