"""Getting a source's HTML: from the corpus' local documents, or over HTTP when a source is a URL
the corpus holds no document for (no ``doc_id``, or no documents for its category at all: a
remote-only corpus). A ``doc_id`` missing from documents the corpus does have is a broken corpus
and an error of that source; guessing the network instead would hang offline machines on DNS.

HTTP requests go through the process-wide domain limiter (concurrency cap + adaptive cooldown),
report every status to it, and retry 429/503 a few times: the limiter's grown cooldown (which
honours ``Retry-After``) spaces the retries, so no sleep happens here. Each request's timeout is
bounded by the attempt's remaining time. A failed fetch is an error *of that source*, never of
the product run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from engine.core.limits import parse_retry_after
from engine.runners.base import RunContext
from engine.runners.harvest.corpus import Corpus, Source
from engine.runners.harvest.page import MAX_PARSE_BYTES

MAX_FETCH_TRIES = 4  # a 429/503 is retried up to this many requests in all
HTTP_TIMEOUT_S = 20.0
MAX_DOWNLOAD_BYTES = MAX_PARSE_BYTES + 1  # the parser reads no more than this anyway
USER_AGENT = "IndexLab-Harvest/0.1 (+offline spec harvester)"
RETRY_STATUSES = frozenset({429, 503})


@dataclass
class Fetched:
    source: Source
    status: str  # ok | duplicate | error
    html: str | None = None
    error: str | None = None
    content_hash: str | None = None

    def to_dict(self) -> dict[str, object]:
        s = self.source
        return {"source_id": s.source_id, "url": s.url, "domain": s.domain, "tier": s.tier,
                "status": self.status, "error": self.error, "content_hash": self.content_hash}


def content_hash(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8", errors="replace")).hexdigest()


class Fetcher:
    """Fetches one product run's sources; ``close()`` it (one HTTP client per run, made on demand)."""

    def __init__(self, corpus: Corpus, ctx: RunContext, category: str = "") -> None:
        self.corpus = corpus
        self.category = category
        self.ctx = ctx
        self._client: httpx.Client | None = None
        self._seen: set[str] = set()

    def fetch(self, source: Source) -> Fetched:
        category = source.category or self.category
        html = self.corpus.document(category, source.doc_id)
        if html is None:
            if source.doc_id and self.corpus.has_documents(category):
                error = f"document {source.doc_id!r} is not in the corpus documents"  # a broken corpus, not a URL to try
            elif source.url.startswith(("http://", "https://")):
                html, error = self._http(source)
            else:
                error = f"no local document and no http(s) URL ({source.url!r})"
            if html is None:
                return Fetched(source, "error", error=error)
        digest = content_hash(html)
        if digest in self._seen:  # the same document under another URL counts once
            return Fetched(source, "duplicate", content_hash=digest)
        self._seen.add(digest)
        return Fetched(source, "ok", html=html, content_hash=digest)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ HTTP
    def _timeout(self) -> float:
        left = self.ctx.cancel.remaining()
        return HTTP_TIMEOUT_S if left is None else max(0.05, min(HTTP_TIMEOUT_S, left))

    def _http(self, source: Source) -> tuple[str | None, str | None]:
        if self._client is None:
            self._client = httpx.Client(follow_redirects=True, max_redirects=3,
                                        headers={"User-Agent": USER_AGENT})
        domain = source.domain or httpx.URL(source.url).host
        domains = self.ctx.limits.domains
        status = 0
        for _ in range(MAX_FETCH_TRIES):
            self.ctx.cancel.raise_if_cancelled()
            with domains.slot(domain, self.ctx.cancel):
                try:
                    with self._client.stream("GET", source.url, timeout=self._timeout()) as response:
                        status = response.status_code
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                        body = _read_capped(response) if status == 200 else b""
                        charset = response.charset_encoding
                except httpx.HTTPError as exc:
                    self.ctx.cancel.raise_if_cancelled()  # a timeout cut short by the deadline is the deadline's
                    return None, f"{type(exc).__name__}: {exc}"[:300]
                domains.report(domain, status, retry_after)
            if status in RETRY_STATUSES:
                continue  # the next slot() waits out the cooldown the report just grew
            if status != 200:
                return None, f"HTTP {status}"
            return _decode(body, charset), None
        return None, f"HTTP {status} after {MAX_FETCH_TRIES} tries"


def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= MAX_DOWNLOAD_BYTES:
            break
    return bytes(body[:MAX_DOWNLOAD_BYTES])


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
