"""Shared helpers of every layer above: errors, global IDs, pagination, the cache clients.

Imports no app and no other package of this project.
"""
