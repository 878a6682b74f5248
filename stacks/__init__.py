"""Stacks compose constructs per environment; they hold no raw resources."""
