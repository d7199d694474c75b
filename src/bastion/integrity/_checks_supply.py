"""Checks of the integrity room's supply part; importing registers them."""
