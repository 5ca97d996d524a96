"""corpus/filters/pii.py on real text: the sample's pages (e-mail addresses in examples, a ping
transcript, private network addresses, ls -l listings) and strings from CPython's own test suite."""

from __future__ import annotations

from corpus.config import PiiConfig
from corpus.filters.pii import redact

ALL = PiiConfig(cards=True)


def test_email_in_a_script_header_is_redacted(page_text) -> None:
    text = page_text("ch12.en.html#_scripting_in_interpreted_languages")
    assert "# Copyright (C) 2021 Osamu Aoki <osamu@debian.org>, Public Domain" in text
    out = redact(text, ALL)
    assert "# Copyright (C) 2021 Osamu Aoki <<EMAIL>>, Public Domain" in out.text
    assert "osamu@debian.org" not in out.text and out.counts["email"] >= 1


def test_public_address_in_a_ping_transcript_but_not_private_or_loopback(page_text) -> None:
    ping = page_text("ch05.en.html#listoflowlevelnetworkcommands")
    out = redact(ping, ALL)
    assert "PING (<IP>)" in out.text and out.counts["ip"] >= 1
    private = page_text("ch05.en.html#_the_basic_network_infrastructure")
    assert "192.168." in private
    assert "192.168." in redact(private, ALL).text  # private networks are not personal


def test_ls_listings_times_and_sizes_are_not_phone_numbers(page_text) -> None:
    text = page_text("ch02.en.html#_debian_package_management_internals")
    assert "lrwxrwxrwx 1 root root" in text
    assert redact(text, ALL).counts["phone"] == 0


def test_urls_are_kept_and_mailto_is_not(page_text) -> None:
    text = page_text("ch12.en.html#_web")
    urls = [w for w in text.split() if w.startswith(("http://", "https://"))]
    out = redact(text, ALL)
    assert all(u in out.text for u in urls)
    assert redact("see https://user@example.org/path", ALL).text == "see https://user@example.org/path"
    assert redact("mailto:webmaster@python.org", ALL).text == "mailto:<EMAIL>"


def test_strings_from_cpythons_test_suite() -> None:
    # Lib/test/test_urlparse.py: a tel: URL; Lib/test/datetimetester.py style ISO dates.
    assert (
        redact("urllib.parse.urlparse('tel:+1-201-555-0123')", ALL).text
        == "urllib.parse.urlparse('tel:<PHONE>')"
    )
    assert redact("'+1980-02-29 01:02:03'", ALL).counts == {}
    # The test card number every payment provider documents, and a number failing the Luhn check.
    out = redact("4111 1111 1111 1111 and 4111 1111 1111 1112", ALL)
    assert out.text == "<CARD> and 4111 1111 1111 1112" and out.counts == {"card": 1}
    assert redact("4111 1111 1111 1111", PiiConfig()).text == "4111 1111 1111 1111"  # cards off by default


def test_ipv6_global_and_special_addresses() -> None:
    out = redact("ff02::1 ip6-allnodes, ::1 localhost, 2001:db8::1 docs, 2a00:1450:4001:82b::200e host", ALL)
    assert out.text == "ff02::1 ip6-allnodes, ::1 localhost, 2001:db8::1 docs, <IP> host"
    assert redact("Section 5.2.3.1, “The mail address configuration”", ALL).counts == {}
