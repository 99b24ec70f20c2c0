"""Run signing and anchor publishing as configured (`ledger` in the config): the signer and publisher given
to the ledger that seals runs, and the trusted key `shoko verify` holds signatures to."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from collector.settings import ConfigError, Settings
from reports.bundle import SnapshotError, load_private_key, load_public_key
from storage import anchors
from storage.signatures import Anchor, RunSigner, TrustedKey

if TYPE_CHECKING:
    from collector.anchor_blob import BlobAnchors

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


def blob_anchors(
    settings: Settings, account_url: str | None = None, container: str | None = None
) -> BlobAnchors | None:
    """The configured anchor container (or the one given), reached with the `azure` credential; None when none."""
    account_url = account_url or settings.ledger.anchors_blob_account_url
    container = container or settings.ledger.anchors_blob_container
    if not account_url or not container:
        return None
    from collector.anchor_blob import BlobAnchors
    from collector.azure_clients import make_credential

    return BlobAnchors(account_url, container, make_credential(settings.azure), settings.azure.ca_bundle)


def publisher(settings: Settings, environ: Mapping[str, str] | None = None) -> Callable[[Anchor], None] | None:
    """What publishes each signed digest: the anchors file, the Blob container, then each anchor channel. A place
    that fails is logged as an error and counted (shoko_anchor_failures_total) and the others still get it; the run
    stays sealed and signed, and `shoko verify --anchors` names it as missing there."""
    ledger = settings.ledger
    container = blob_anchors(settings)
    if not ledger.anchors_file and not ledger.anchor_channels and container is None:
        return None
    from agent import metrics
    from alerts.notifiers import DeliveryError, WebhookNotifier, build_notifiers

    path = Path(ledger.anchors_file) if ledger.anchors_file else None
    notifiers = build_notifiers(settings.alerts, environ)
    webhooks = [notifiers[name] for name in ledger.anchor_channels]
    policy_checked = False  # the container's policy is looked at once, before the first anchor goes there

    def publish(anchor: Anchor) -> None:
        nonlocal policy_checked
        extra = {"run_id": anchor.run_id}
        if path is not None:
            try:
                anchors.append(path, anchor)
            except anchors.AnchorError as exc:
                log.error("run %d: anchor not published: %s", anchor.run_id, exc, extra=extra)
                metrics.observe_anchor("file", False)
            else:
                metrics.observe_anchor("file", True)
        if container is not None:
            if not policy_checked:
                policy_checked = True
                _warn_without_policy(settings, container)
            try:
                name = container.publish(anchor)
            except anchors.AnchorError as exc:
                log.error("run %d: anchor not published: %s", anchor.run_id, exc, extra=extra)
                metrics.observe_anchor("blob", False)
            else:
                log.info("run %d: anchor written to %s/%s", anchor.run_id, container.label, name, extra=extra)
                metrics.observe_anchor("blob", True)
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
                metrics.observe_anchor(notifier.channel.name, False)
            else:
                log.info("run %d: anchor posted to channel %s (%s)", anchor.run_id, notifier.channel.name, detail)
                metrics.observe_anchor(notifier.channel.name, True)

    return publish


def _warn_without_policy(settings: Settings, container: BlobAnchors) -> None:
    """A container without a time-based retention policy, or with one not locked (whoever may delete the policy
    may then delete the blobs), is a warning: its anchors are only as safe as the rights on it."""
    try:
        if not container.has_immutability_policy():
            log.warning(
                "anchor container %s has no time-based immutability policy: its anchors can be deleted or replaced "
                "by anyone with write rights on it; add one and lock it",
                container.label,
            )
            return
        state = _arm_policy_state(settings, container)
    except anchors.AnchorError as exc:
        log.warning("anchor container's immutability policy not checked: %s", exc)
        return
    if state is not None and state.lower() != "locked":
        log.warning(
            "anchor container %s: its time-based immutability policy is %s, not Locked: whoever may change the "
            "container's policy can remove it and then delete anchors; lock it",
            container.label,
            state,
        )


def _arm_policy_state(settings: Settings, container: BlobAnchors) -> str | None:
    from azure.core.exceptions import AzureError
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    from collector.anchor_blob import policy_state
    from collector.azure_clients import ClientFactory, make_credential

    factory = ClientFactory(make_credential(settings.azure), settings.azure, settings.collection)
    subscriptions = list(settings.azure.subscriptions)
    if not subscriptions:
        try:
            listed = factory.arm(SubscriptionClient).subscriptions.list()
            subscriptions = [str(s.subscription_id) for s in listed]
        except AzureError as exc:
            raise anchors.AnchorError(f"subscriptions cannot be listed: {type(exc).__name__}") from None
    return policy_state(factory, subscriptions, container.client.account_name, container.client.container_name)
