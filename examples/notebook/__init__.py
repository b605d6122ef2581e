"""A server-rendered notebook: pages, forms, uploads and flash messages (keel.templates,
keel.forms, keel.db)."""
