"""Checks of the risk room; importing this module registers them."""
