"""Alembic migrations of the portal's database (run by ``signflow.portal.db.migrate``)."""
