"""Ports: the interfaces the core needs from the outside world (typing.Protocol)."""
