"""Run signing and anchor publishing as configured (`ledger` in the config): the signer and publisher given
to the ledger that seals runs, and the trusted key `shoko verify` holds signatures to."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from collector.settings import ConfigError, Settings
from reports.bundle import SnapshotError, load_private_key, load_public_key
from storage import anchors
from storage.signatures import Anchor, RunSigner, TrustedKey

log = logging.getLogger("shoko.anchors")

ANCHOR_TYPE = "shoko.anchor"


def run_signer(settings: Settings, environ: Mapping[str, str] | None = None) -> RunSigner | None:
    """The installation's key when `ledger.sign_runs` is on; a missing or bad key is a ConfigError (one line)."""
    if not settings.ledger.sign_runs:
        return None
    environ = dict(os.environ) if environ is None else dict(environ)
    try:
        return RunSigner(load_private_key(settings.ledger.signing_key_file, environ))
    except SnapshotError as exc:
        raise ConfigError(f"ledger.sign_runs: {exc}") from None


def trusted_key(settings: Settings) -> TrustedKey | None:
    ledger = settings.ledger
    if ledger.public_key_file:
        try:
            return TrustedKey.of(load_public_key(Path(ledger.public_key_file)))
        except SnapshotError as exc:
            raise ConfigError(f"ledger.public_key_file: {exc}") from None
    return TrustedKey(ledger.fingerprint) if ledger.fingerprint else None


def anchor_body(anchor: Anchor) -> bytes:
    return json.dumps({"type": ANCHOR_TYPE, "anchor": anchor.as_dict()}, sort_keys=True).encode()


def publisher(settings: Settings, environ: Mapping[str, str] | None = None) -> Callable[[Anchor], None] | None:
    """What publishes each signed digest: the anchors file, then each anchor channel. A place that fails is
    logged as an error and the others still get it; the run stays sealed and signed, and `shoko verify
    --anchors` names it as missing from the file."""
    ledger = settings.ledger
    if not ledger.anchors_file and not ledger.anchor_channels:
        return None
    from alerts.notifiers import DeliveryError, WebhookNotifier, build_notifiers

    path = Path(ledger.anchors_file) if ledger.anchors_file else None
    notifiers = build_notifiers(settings.alerts, environ)
    webhooks = [notifiers[name] for name in ledger.anchor_channels]

    def publish(anchor: Anchor) -> None:
        extra = {"run_id": anchor.run_id}
        if path is not None:
            try:
                anchors.append(path, anchor)
            except anchors.AnchorError as exc:
                log.error("run %d: anchor not published: %s", anchor.run_id, exc, extra=extra)
        for notifier in webhooks:
            assert isinstance(notifier, WebhookNotifier)
            try:
                detail = notifier.send_body(anchor_body(anchor), f"anchor-{anchor.run_id}-{anchor.digest[:16]}")
            except DeliveryError as exc:
                log.error(
                    "run %d: anchor not posted to channel %s: %s",
                    anchor.run_id,
                    notifier.channel.name,
                    exc,
                    extra=extra,
                )
            else:
                log.info("run %d: anchor posted to channel %s (%s)", anchor.run_id, notifier.channel.name, detail)

    return publish
