"""Azure Cache for Redis: Redis - List By Subscription (azure-mgmt-redis 14.5, api-version 2024-11-01), one
call per subscription; each cache carries `minimumTlsVersion` and `enableNonSslPort` in its properties."""

from azure.mgmt.redis import RedisManagementClient

from collector.fetchers.base import FetchContext, Fetcher

REDIS_CACHE = "redis_cache"


def _run(ctx: FetchContext) -> None:
    client = ctx.clients.arm(RedisManagementClient, ctx.subscription_id)
    ctx.list_into(REDIS_CACHE, client.redis.list_by_subscription)


FETCHER = Fetcher("redis.caches", {REDIS_CACHE: ("microsoft.cache/redis",)}, tenant_wide=False, run=_run)
