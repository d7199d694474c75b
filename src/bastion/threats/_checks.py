"""Checks of the threats room; importing this module registers them."""
