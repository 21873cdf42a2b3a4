"""The auto-submitting form page (P4)."""

from __future__ import annotations

import html.parser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exams.adapters.lti import render_autosubmit_form


class FormReader(html.parser.HTMLParser):
    """Reads back what a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.action = None
        self.fields: list[tuple[str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        if tag == "input":
            self.fields.append((attrs["name"], attrs["value"]))


def read(page: str) -> FormReader:
    reader = FormReader()
    reader.feed(page)
    return reader


def test_the_page_posts_every_field_to_the_action():
    page = render_autosubmit_form("https://tool.example/launch?a=1&b=2", {"state": "s", "id_token": "x.y.z"})
    reader = read(page)
    assert reader.action == "https://tool.example/launch?a=1&b=2"
    assert reader.fields == [("state", "s"), ("id_token", "x.y.z")]
    assert 'method="post"' in page and "<noscript>" in page


def test_a_script_in_state_is_escaped():
    page = render_autosubmit_form("https://tool.example/launch", {"state": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page
    assert read(page).fields == [("state", '"><script>alert(1)</script>')]
    assert read(page).tags.count("script") == 1


def test_the_csp_nonce_is_put_on_the_script():
    page = render_autosubmit_form("https://tool.example/launch", {}, script_nonce='abc"def')
    assert '<script nonce="abc&quot;def">' in page


@pytest.mark.parametrize("action", ["javascript:alert(1)", "data:text/html,hi", "/relative", "https://", "//tool.example/x"])
def test_non_http_actions_are_refused(action):
    with pytest.raises(ValueError):
        render_autosubmit_form(action, {"state": "s"})


@given(fields=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=60), max_size=4),
       path=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="#?"), max_size=30))
def test_any_field_value_round_trips_and_never_adds_markup(fields, path):
    action = "https://tool.example/" + path
    reader = read(render_autosubmit_form(action, fields))
    # html.parser normalises CR/CRLF the way browsers do; compare after the same normalisation.
    normalise = lambda s: s.replace("\r\n", "\n").replace("\r", "\n")  # noqa: E731
    assert [(normalise(k), normalise(v)) for k, v in reader.fields] == [(normalise(k), normalise(v)) for k, v in fields.items()]
    assert reader.tags.count("script") == 1 and reader.tags.count("form") == 1
    assert normalise(reader.action) == normalise(action)
