"""Berth's foundation: what every other package may import, importing nothing else of ours."""
