"""A CRUD API over authors and their books: keel.db end to end."""
