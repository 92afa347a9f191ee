"""Pure rules of Ally: no Flask, no SQLAlchemy, no I/O."""
