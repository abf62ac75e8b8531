"""Doccano round trip: a local server (server), its REST API (gateway), Task ⇄ Doccano records
(mapping), and the idempotent push/pull between task files and a project (sync)."""
