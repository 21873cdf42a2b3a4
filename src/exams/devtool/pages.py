"""The tool's HTML pages: one style, every value escaped by the callers."""

from __future__ import annotations

import html

from webob import Response


class ToolError(Exception):
    """A refusal shown to the browser as a 400 page."""


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
          "code{background:#f3f3f3;padding:0 .2em}button{margin:.2em .2em .2em 0;padding:.4em .8em}"
          "th{text-align:left;padding-right:1em}.error{color:#a00}section{border-top:1px solid #ccc;margin-top:1em}")


def page(title: str, body: str, status: int = 200) -> Response:
    text = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            f"<p><small>exams development proctoring tool &middot; <a href='/'>about</a></small></p></body></html>")
    response = Response(text, status=status, content_type="text/html", charset="utf-8")
    response.cache_control = "no-store"
    return response
