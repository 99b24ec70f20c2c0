"""Change a running sandbox's estate from another process, through its admin endpoints.

    admin = SandboxAdmin.from_info(json.load(open("sb.json")))   # the info `shoko sandbox serve` writes
    admin.put_resource(nsg_rule_document)      # PUT /_sandbox/resources
    admin.delete_resource(resource_id)         # DELETE /_sandbox/resources?id=...
    admin.set_estate(estate_mapping)           # PUT /_sandbox/estate
    admin.estate()                             # GET /_sandbox/estate
    admin.stats()                              # GET /_sandbox/stats: calls by operation, status, subscription; CPU

Each change is validated like the estate file and served from the next request on. The endpoints need
`Authorization: Bearer <admin_token>` (from the same info); they are the sandbox's own and exist nowhere in Azure.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit


class SandboxAdminError(RuntimeError):
    """The sandbox refused a change (or could not be reached). The message is one line."""


@dataclass(frozen=True)
class SandboxAdmin:
    base_url: str
    admin_token: str
    ca_bundle: str
    timeout: float = 30.0

    @classmethod
    def from_info(cls, info: Any) -> SandboxAdmin:
        """From a `SandboxInfo` or its JSON form (the info file of `shoko sandbox serve`)."""
        data = info if isinstance(info, Mapping) else info.to_dict()
        missing = [k for k in ("base_url", "admin_token", "ca_bundle") if not data.get(k)]
        if missing:
            raise SandboxAdminError(f"sandbox info lacks {', '.join(missing)}")
        return cls(str(data["base_url"]), str(data["admin_token"]), str(data["ca_bundle"]))

    def put_resource(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "/_sandbox/resources", doc)

    def delete_resource(self, resource_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/_sandbox/resources?id={quote(resource_id, safe='/')}")

    def set_estate(self, estate: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PUT", "/_sandbox/estate", estate)

    def estate(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/estate")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/stats")

    def _call(self, method: str, target: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = urlsplit(self.base_url)
        context = ssl.create_default_context(cafile=self.ca_bundle)
        connection = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=self.timeout, context=context)
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        try:
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise SandboxAdminError(f"sandbox {self.base_url} cannot be reached: {exc}") from None
        finally:
            connection.close()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        if response.status != 200:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            message = error.get("message") if isinstance(error, dict) else None
            raise SandboxAdminError(f"sandbox refused {method} {target.split('?')[0]}: {response.status} {message}")
        return answer
