"""Tests of the auth plugin: tables, services, the key verifier, the CLI and the gateway."""
