"""Checks of the integrity room's signing part; importing registers them."""
