"""Checks of the integrity room's scanning part; importing registers them."""
