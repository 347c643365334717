"""Serves www/ for `make serve`, with the two headers that make the page cross-origin isolated
(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp): only an
isolated page may share memory between Web Workers, which the threaded build needs. Every file the
page loads is from this origin, so require-corp blocks nothing.

Usage: python3 scripts/serve.py PORT   (from www/; binds 127.0.0.1)
"""
import functools
import http.server
import sys


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus the isolation headers on every response."""

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    handler = functools.partial(IsolatedHandler, directory=".")
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
