"""The command language: one grammar, one registry, one help text for every front end."""
