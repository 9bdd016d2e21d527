"""Pure parsers: a platform payload in, typed items out. No network, no database."""
