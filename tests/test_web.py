"""The page's files as Flask serves them (the browser test drives the page itself)."""
from __future__ import annotations


def test_the_page_is_self_contained(client):
    """No external assets, and a policy that forbids them (and inline script)."""
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    html = r.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    for asset in ("/page/page.js", "/page/answer.js", "/page/api.js", "/page/dom.js", "/page/page.css"):
        served = client.get(asset)
        assert served.status_code == 200 and served.mimetype in ("text/javascript", "text/css"), asset
        body = served.get_data(as_text=True)
        assert "http://" not in body and "https://" not in body and "innerHTML" not in body
