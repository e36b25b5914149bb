"""HTML to PDF with WeasyPrint (needs Pango from the system: `make install` installs it)."""
from __future__ import annotations


def _no_remote(url: str, *args, **kwargs):
    # Print templates are rendered from tenant data: never let one make the server fetch a URL.
    if url.startswith("data:"):
        from weasyprint import default_url_fetcher

        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"print templates may not load external resources: {url[:80]}")


def _fetcher():
    # WeasyPrint 68+ wants a URLFetcher object (a plain function breaks on the first image); it can be
    # limited to data: URLs itself.
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:
        return _no_remote
    return URLFetcher(allowed_protocols={"data"})


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=_fetcher()).write_pdf()
