"""Azure Cache for Redis: encrypted connections with TLS 1.2 or newer only."""

from __future__ import annotations

from collections.abc import Iterator

from controls.checks.base import Outcome, check, errored, failed, passed
from controls.checks.helpers import display_name, min_tls_outcome, props, shown
from controls.model import FactSet, Status, Thresholds

# Fact kind of collector/fetchers/redis.py.
REDIS_CACHE = "redis_cache"


@check(
    id="redis-tls-min",
    title_ja="Azure Cache for Redis が TLS 1.2 以上の暗号化接続のみを受け付ける",
    title_en="Azure Cache for Redis accepts only encrypted connections with TLS 1.2 or newer",
    judges=("microsoft.cache/redis",),
    reads=(REDIS_CACHE,),
    per_subscription=True,  # each judged on its own document alone
    api="Redis - List By Subscription (Microsoft.Cache/redis): properties.minimumTlsVersion, enableNonSslPort",
    rule_ja="minimumTlsVersion が 1.2 以上で、enableNonSslPort が false（平文ポート 6379 が閉じている）なら合格。"
    "minimumTlsVersion の未設定は古い TLS を受け付けるため不合格、enableNonSslPort が true は不合格、"
    "enableNonSslPort が返されないときはエラー。",
    rule_en="Passes when minimumTlsVersion is 1.2 or newer and enableNonSslPort is false (the plain-text port 6379 "
    "is closed). A missing minimumTlsVersion accepts older TLS and fails; enableNonSslPort true fails; an "
    "enableNonSslPort that is not returned is an error.",
    remediation_ja="キャッシュの [詳細設定] で最小 TLS バージョンを 1.2 にし、非 TLS ポートを無効にする"
    "（az redis update --set minimumTlsVersion=1.2 enableNonSslPort=false）。",
    remediation_en="Set Minimum TLS version to 1.2 and disable the non-TLS port under the cache's Advanced settings "
    "(az redis update --set minimumTlsVersion=1.2 enableNonSslPort=false).",
)
def redis_tls_min(facts: FactSet, thresholds: Thresholds) -> Iterator[Outcome]:
    for cache in facts.of(REDIS_CACHE):
        name = display_name(cache)
        subject_ja, subject_en = f"Redis キャッシュ {name}", f"Redis cache {name}"
        p = props(cache.content)
        tls = min_tls_outcome(
            cache.resource_id, subject_ja, subject_en, "minimumTlsVersion", p.get("minimumTlsVersion"), "1.2", cache
        )
        non_ssl = p.get("enableNonSslPort")
        ja, en = shown(non_ssl)
        if non_ssl is True:
            also_ja = f"。また{tls.reason_ja}" if tls.status == Status.FAIL else ""
            also_en = f"; also {tls.reason_en}" if tls.status == Status.FAIL else ""
            yield failed(
                cache.resource_id,
                f"{subject_ja} の enableNonSslPort が true です（平文ポート 6379 が開いている。false が必要）{also_ja}",
                f"{subject_en} enableNonSslPort is true (plain-text port 6379 open; false required){also_en}",
                cache,
            )
        elif tls.status != Status.PASS:
            yield tls
        elif non_ssl is not False:
            yield errored(
                cache.resource_id,
                f"{subject_ja} の enableNonSslPort が {ja} で、平文ポートが閉じているか判定できません",
                f"{subject_en} enableNonSslPort is {en}: whether the plain-text port is closed cannot be judged",
                cache,
            )
        else:
            yield passed(
                cache.resource_id,
                f"{tls.reason_ja}。enableNonSslPort は false です",
                f"{tls.reason_en}; enableNonSslPort is false",
                cache,
            )
