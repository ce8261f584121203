"""Framework integrations, each importing its framework only when used."""
