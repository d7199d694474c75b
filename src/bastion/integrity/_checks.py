"""Checks of the integrity room; importing this module registers them."""
