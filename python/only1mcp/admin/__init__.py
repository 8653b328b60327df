"""The admin listener: a JSON API, its OpenAPI document and a live web dashboard, served by a
second HTTP server in the aggregator's process (see docs/admin.md)."""
