"""Accounts keeps no tables of its own (users, groups and permissions are Django's).

This module exists because Django sends `post_migrate` only to apps with a models module:
without it, the roles and the database cache's table (see apps.py) would never be created.
"""
