"""The session image: what it holds (profiles), how it is built (debian, dockerfile, minimal), what our images
are and which of them sessions use (catalog), and when one is superseded (prune)."""
