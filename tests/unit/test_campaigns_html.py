"""Email HTML sanitising and the automatic plain-text alternative."""

from __future__ import annotations

from app.campaigns.html import html_to_text, sanitise_html


def test_scripts_are_removed_with_their_content() -> None:
    assert sanitise_html("<p>Hi</p><script>alert('x')</script>") == "<p>Hi</p>"


def test_event_handlers_are_stripped() -> None:
    cleaned = sanitise_html('<img src="https://x.example/a.png" onerror="alert(1)" alt="logo">')
    assert cleaned == '<img src="https://x.example/a.png" alt="logo">'


def test_javascript_urls_are_dropped_and_links_get_noopener() -> None:
    assert (
        sanitise_html('<a href="javascript:alert(1)">x</a> <a href="https://ok.example">y</a>')
        == '<a rel="noopener noreferrer">x</a> '
        '<a href="https://ok.example" rel="noopener noreferrer">y</a>'
    )


def test_forms_iframes_and_style_blocks_are_removed() -> None:
    html = (
        '<style>body{display:none}</style><iframe src="https://evil.example"></iframe>'
        '<form action="https://evil.example"><input name="pw"></form><p>kept</p>'
    )
    assert sanitise_html(html) == "<p>kept</p>"


def test_only_safe_inline_style_properties_survive() -> None:
    assert (
        sanitise_html('<p style="color: red; position: fixed; top: 0">x</p>')
        == '<p style="color:red">x</p>'
    )


def test_the_text_alternative_keeps_structure_and_link_targets() -> None:
    html = sanitise_html(
        "<h1>Spring offer</h1><p>Dear <b>Ada</b>,<br>see <a href='https://x.example/o'>our "
        "offer</a>.</p><ul><li>fibre</li><li>VPN</li></ul><p>Write to "
        "<a href='mailto:sales@x.example'>sales@x.example</a></p>"
    )
    assert html_to_text(html) == (
        "Spring offer\n\nDear Ada,\nsee our offer (https://x.example/o).\n\n"
        "- fibre\n- VPN\n\nWrite to sales@x.example\n"
    )


def test_the_text_alternative_renders_tables_as_tab_separated_rows() -> None:
    html = (
        "<table><tr><th>Product</th><th>Price</th></tr><tr><td>Fibre</td><td>99</td></tr></table>"
    )
    assert html_to_text(html) == "Product\tPrice\nFibre\t99\n"


def test_entities_are_decoded_in_the_text_alternative() -> None:
    assert html_to_text("<p>A &amp; B &lt;3</p>") == "A & B <3\n"
