"""The process's one client of Django's default cache (Redis when REDIS_URL is set).

`django.core.cache.cache` is per asyncio context under ASGI: every request would build a new
client and, with Redis, open a new connection. Code that runs in requests uses this one.
"""

from django.core.cache import caches

cache = caches.create_connection("default")
