"""Checks of the governance room; importing this module registers them."""
