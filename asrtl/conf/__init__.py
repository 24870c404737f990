"""The recipes' Hydra configs (package data; a package so that Hydra finds them as
``pkg://asrtl.conf`` in an installed asrtl)."""
