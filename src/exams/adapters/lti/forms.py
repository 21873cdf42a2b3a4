"""The auto-submitting HTML form that carries an id_token (or any LTI form post) through the browser."""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Mapping

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex">
<title>{title}</title>
</head>
<body>
<form id="lti-autosubmit" method="post" action="{action}">
{inputs}
<noscript><p>{title}</p><button type="submit">Continue</button></noscript>
</form>
<script{script_nonce}>document.getElementById("lti-autosubmit").submit();</script>
</body>
</html>
"""


def render_autosubmit_form(
    action: str,
    fields: Mapping[str, str],
    *,
    title: str = "Continuing to your proctoring tool",
    script_nonce: str | None = None,
) -> str:
    """Render a page that POSTs `fields` to `action` as soon as it loads (a button if JS is off).

    Every interpolated value is HTML-escaped (P4: `state` and the like come from the tool). `action` must
    be an absolute http(s) URL; callers pass only a registered redirect_uri (P2), and this refuses
    `javascript:` and other schemes as a second line of defence. `script_nonce` is the CSP nonce for the
    inline submit script, if the response sets a nonce-based Content-Security-Policy.
    """
    parts = urllib.parse.urlsplit(action)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the form action must be an absolute http(s) URL")
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(str(name), quote=True)}" value="{html.escape(str(value), quote=True)}">'
        for name, value in fields.items()
    )
    nonce_attr = f' nonce="{html.escape(script_nonce, quote=True)}"' if script_nonce else ""
    return _PAGE.format(
        title=html.escape(title, quote=True),
        action=html.escape(action, quote=True),
        inputs=inputs,
        script_nonce=nonce_attr,
    )
