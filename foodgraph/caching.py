"""The process's one client of Django's default cache (Redis when REDIS_URL is set).

`django.core.cache.cache` is per asyncio context under ASGI: every request would build a new
client and, with Redis, open a new connection. Code that runs in requests uses this one.

`local_cache` is this process's own memory, for what must go on while Redis is unreachable.
"""

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from redis import ConnectionError as RedisConnectionError
from redis import TimeoutError as RedisTimeoutError

cache = caches.create_connection("default")
local_cache = LocMemCache("foodgraph-local", {})

# Redis down, restarting or out of reach (refused, timed out, or a wrong password); other
# Redis errors (a protocol error: a URL naming some other server) are faults.
REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
