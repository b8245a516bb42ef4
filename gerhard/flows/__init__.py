"""What changes the registry in one commit: a registration, a decision."""
