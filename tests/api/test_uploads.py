"""Attestation documents uploaded through the API and the dashboard's form: kept in the ledger by SHA-256, cited
in the attestation, downloaded by auditors; sizes, media types and request bodies bounded."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.actions import ATTESTATION_ADD

from .conftest import Api, Collected, auth, copy_ledger, make_api
from .test_dashboard import sign_in
from .test_dashboard import site as site  # the signed-in dashboard fixture

FIELDS = {
    "requirements": "2,3",
    "owner": "情報システム部 山田",
    "valid_until": "2099-12-31",
    "statement_ja": "規程を承認済み",
    "statement_en": "Policy approved",
}
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEXT = "教育記録 2026 年度: 全員受講\n".encode()


@pytest.fixture
def small(collected: Collected, tmp_path: Path) -> Iterator[Api]:
    """The app with a 1000-byte document limit and PDF and plain text only."""
    url = copy_ledger(collected, tmp_path / "shoko.db")
    yield from make_api(collected, url, max_upload_bytes=1000, upload_media_types=("application/pdf", "text/plain"))


def test_an_admin_uploads_documents_which_are_cited_by_sha256_and_auditors_download_them(writable):
    files = [
        ("documents", ("規程 v2.pdf", PDF, "application/pdf")),
        ("documents", ("training.txt", TEXT, "text/plain; charset=utf-8")),
    ]
    made = writable.post("/api/v1/attestations", data={**FIELDS, "id": "ATT-UP-1"}, files=files)
    assert made.status_code == 201, made.text
    docs = made.json()["documents"]
    assert [(d["name"], d["media_type"], d["size"]) for d in docs] == [
        ("規程 v2.pdf", "application/pdf", len(PDF)),
        ("training.txt", "text/plain", len(TEXT)),
    ]
    assert [d["sha256"] for d in docs] == [hashlib.sha256(PDF).hexdigest(), hashlib.sha256(TEXT).hexdigest()]
    recorded = next(a for a in writable.ledger.attestations() if a.id == "ATT-UP-1")
    assert [d.sha256 for d in recorded.documents] == [d["sha256"] for d in docs]
    assert writable.ledger.attestation_document(docs[0]["sha256"]) == ("application/pdf", PDF)
    action = writable.ledger.actions(ATTESTATION_ADD)[-1]
    assert action.subject == "ATT-UP-1" and action.content["documents"] == [d["sha256"] for d in docs]

    url = f"/api/v1/attestations/ATT-UP-1/documents/{docs[0]['sha256']}"
    got = writable.get(url, role="auditor")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''%E8%A6%8F%E7%A8%8B%20v2.pdf" in disposition
    assert got.headers["x-content-type-options"] == "nosniff"
    assert writable.get(f"/api/v1/attestations/ATT-UP-1/documents/{'0' * 64}").status_code == 404
    other = writable.post("/api/v1/attestations", json={**FIELDS, "id": "ATT-UP-2"})
    assert other.status_code == 201
    assert writable.get(f"/api/v1/attestations/ATT-UP-2/documents/{docs[0]['sha256']}").status_code == 404
    assert writable.get("/api/v1/attestations/ATT-UP-1/documents/NOTAHASH").status_code == 422
    assert writable.client.get(url).status_code == 401
    listed = writable.get("/api/v1/attestations", params={"requirement": 2}).json()["items"]
    assert any(a["id"] == "ATT-UP-1" and len(a["documents"]) == 2 for a in listed)


def test_only_admins_upload_and_refused_uploads_record_nothing(small):
    before = len(small.ledger.attestations())
    pdf = [("documents", ("policy.pdf", PDF, "application/pdf"))]
    for role in ("auditor", "operator"):
        assert small.post("/api/v1/attestations", role=role, data=FIELDS, files=pdf).status_code == 403
    refused = {
        "too large": ([("documents", ("big.txt", b"a" * 1001, "text/plain"))], 413, "more than the limit of 1000"),
        "type not allowed here": ([("documents", ("p.png", b"\x89PNG\r\n\x1a\n", "image/png"))], 415, "image/png"),
        "html": ([("documents", ("x.html", b"<script>", "text/html"))], 415, "text/html is not accepted"),
        "extension mismatch": ([("documents", ("x.txt", PDF, "application/pdf"))], 415, "extension"),
        "content mismatch": ([("documents", ("x.pdf", b"MZ\x90\x00", "application/pdf"))], 415, "content is not"),
        "binary as text": ([("documents", ("x.txt", b"a\x00b", "text/plain"))], 415, "content is not"),
        "empty": ([("documents", ("x.txt", b"", "text/plain"))], 422, "empty"),
        "twice": ([("documents", ("x.txt", b"a", "text/plain")), ("documents", ("x.txt", b"b", "text/plain"))], 422,
                  "given twice"),
        "too many": ([("documents", (f"{i}.txt", b"a", "text/plain")) for i in range(6)], 422, "at most 5"),
    }  # fmt: skip
    for case, (files, status, words) in refused.items():
        response = small.post("/api/v1/attestations", data=FIELDS, files=files)
        assert response.status_code == status and words in response.json()["detail"], (case, response.text)
    # A "documents" text field instead of a file part (multipart forced by an empty file part of another name).
    other_part = [("other", ("o.txt", b"", "text/plain"))]
    not_a_file = small.post("/api/v1/attestations", data={**FIELDS, "documents": "policy.pdf"}, files=other_part)
    assert not_a_file.status_code == 422 and "file part" in not_a_file.json()["detail"]
    missing = small.post("/api/v1/attestations", data={"owner": "x"}, files=pdf)
    assert missing.status_code == 422 and missing.json()["detail"].startswith("body 'requirements'")
    plain = {**auth(small.tokens["admin"]), "content-type": "text/plain"}
    wrong_type = small.client.post("/api/v1/attestations", content=b"owner=x", headers=plain)
    assert wrong_type.status_code == 415
    assert len(small.ledger.attestations()) == before
    fine = small.post("/api/v1/attestations", data=FIELDS, files=pdf)
    assert fine.status_code == 201 and fine.json()["documents"][0]["size"] == len(PDF)


def test_request_bodies_are_bounded_before_they_are_parsed(small):
    limit = 5 * 1000 + 256 * 1024  # five documents at the limit, and the form
    huge = small.post(
        "/api/v1/attestations", data=FIELDS, files=[("documents", ("big.txt", b"a" * (limit + 1), "text/plain"))]
    )
    assert huge.status_code == 413 and "request body too large" in huge.json()["detail"]
    # Every other route takes at most 1 MiB (JSON bodies and form fields only).
    token = {"name": "x" * (1024 * 1024 + 1), "role": "auditor", "expires_days": 1}
    big_json = small.post("/api/v1/tokens", json=token)
    assert big_json.status_code == 413

    def streamed():  # no Content-Length: counted as it is read
        for _ in range(1100):
            yield b"a" * 1024

    json_type = {"content-type": "application/json"}
    chunked = small.client.post(
        "/api/v1/drift/1/acknowledge", content=streamed(), headers={**auth(small.tokens["operator"]), **json_type}
    )
    assert chunked.status_code == 413


def test_the_dashboard_form_uploads_documents_with_its_csrf_token(site):
    client, signin, ledger = site
    csrf = sign_in(client, signin, "admin")
    page = client.get("/attestations")
    assert 'enctype="multipart/form-data"' in page.text
    assert 'type="file"' in page.text and 'name="documents"' in page.text
    before = len(ledger.attestations())
    files = [("documents", ("policy.pdf", PDF, "application/pdf"))]
    assert client.post("/attestations", data=FIELDS, files=files).status_code == 403  # no CSRF token
    assert client.post("/attestations", data={**FIELDS, "csrf": "wrong"}, files=files).status_code == 403
    assert len(ledger.attestations()) == before
    bad = client.post("/attestations", data={**FIELDS, "csrf": csrf}, files=[("documents", ("x.exe", b"MZ", "x/y"))])
    assert bad.status_code == 415 and "<html" in bad.text and len(ledger.attestations()) == before
    done = client.post("/attestations", data={**FIELDS, "csrf": csrf}, files=files)
    assert done.status_code == 303, done.text
    recorded = ledger.attestations()[-1]
    assert [d.sha256 for d in recorded.documents] == [hashlib.sha256(PDF).hexdigest()]
    # An empty file input (nothing chosen), as a browser sends it: a part with an empty filename.
    boundary = "shoko-test-boundary"
    parts = [f'Content-Disposition: form-data; name="{k}"\r\n\r\n{v}' for k, v in {**FIELDS, "csrf": csrf}.items()]
    nothing = 'name="documents"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n'
    parts.append(f"Content-Disposition: form-data; {nothing}")
    raw = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    multipart = {"content-type": f"multipart/form-data; boundary={boundary}"}
    empty = client.post("/attestations", content=raw.encode(), headers=multipart)
    assert empty.status_code == 303 and ledger.attestations()[-1].documents == ()
    page = client.get("/attestations")
    link = re.search(r'href="(/api/v1/attestations/[^"]+/documents/[0-9a-f]{64})">policy.pdf<', page.text)
    assert link
    sign_in(client, signin, "auditor")
    got = client.get(link.group(1))
    assert got.status_code == 200 and got.content == PDF
    assert 'type="file"' not in client.get("/attestations").text  # auditors see no form
