"""Use cases: load from repositories, ask the domain, save, hand outcomes to ports. Never commit."""
