"""Synthetic demo pages for a city that has no hand-made ones (``scripts/demo_portal_pages/<id>/``).

``scripts/build_demo_archive.py`` writes these into the demo archive for each of the city's HTML portals,
filled from the city's registry file: the hotline's brand and numbers (with ``tel:`` links), the
languages its pages are published in, and what its portal kinds and data availability say (a contact
or channels page offers a web form, an app page the app, a FAQ page questions, open data its evidence
link). Enough for the feature rules to find a phone channel and a contact page; every page says it is
synthetic, in a comment, a ``<meta>`` and its footer, and the archive entry is marked ``is_synthetic``.
Deterministic: the same city file gives the same bytes.
"""

from __future__ import annotations

from html import escape

from hotline_eval.config.registry import City, Portal

GENERATOR = "hotline_eval demo template"
# English names of the languages a portal may be published in (the rules find a language by its name
# near a `languages` keyword); another code is written as it is
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "es": "Spanish", "fr": "French", "de": "German",
                  "ja": "Japanese", "ko": "Korean", "pt": "Portuguese", "tr": "Turkish", "hi": "Hindi",
                  "it": "Italian", "ru": "Russian", "ar": "Arabic", "vi": "Vietnamese", "th": "Thai",
                  "ms": "Malay", "id": "Indonesian", "ta": "Tamil", "mr": "Marathi"}
# portal kinds whose page offers the hotline's contact channels besides the phone
CONTACT_KINDS = frozenset({"home", "contact", "channels"})


def templated(portal: Portal) -> bool:
    """Whether the template writes this portal: an HTML page (not a data file, not directory records)."""
    return portal.records is None and not portal.url.endswith((".json", ".xml"))


def language_names(city: City) -> list[str]:
    """The languages of the city's pages, by name, in the order first met."""
    codes = dict.fromkeys(p.language.split("-")[0] for p in city.portals)
    return [LANGUAGE_NAMES.get(code, code) for code in codes]


def _paragraphs(city: City, portal: Portal) -> list[str]:
    brand = escape(city.hotline.brand)
    numbers = " or ".join(f'<a href="tel:{escape(n.replace(" ", ""))}">{escape(n)}</a>'
                          for n in city.hotline.numbers)
    out = [f"Contact {brand}: call {numbers}."]
    if portal.kind in CONTACT_KINDS:
        out.append("Submit a service request online using our web form.")
        out.append("Check the status of your request with the reference number you receive.")
    if portal.kind == "app" or (portal.kind == "home" and any(p.kind == "app" for p in city.portals)):
        out.append(f"Download the {brand} mobile app.")
    if portal.kind in ("languages", "home", "contact"):
        out.append(f"Our pages are published in these languages: {', '.join(language_names(city))}.")
    if city.data_availability.level != "not_public" and portal.kind in ("home", "open_data", "about"):
        evidence = escape(city.data_availability.evidence_url)
        out.append(f'Request data is published as <a href="{evidence}">open data</a>.')
    return [f"<p>{text}</p>" for text in out]


def _faq(city: City, portal: Portal) -> str:
    if portal.kind != "faq":
        return ""
    questions = ("How do I report a problem?", "What happens after I submit a request?",
                 f"When can I call {city.hotline.brand}?")
    items = "".join(f"<details><summary>{escape(q)}</summary><p>See the answer on this page.</p></details>"
                    for q in questions)
    return f"<h2>Frequently asked questions</h2>{items}"


def portal_page(city: City, portal: Portal) -> bytes:
    """The synthetic page for one of the city's portals, UTF-8 HTML."""
    title = escape(f"{city.hotline.brand} - {city.name_en}")
    note = f"synthetic demo page (hotline_eval): generated from config/cities/{city.id}.yaml for {portal.url}"
    body = "".join(_paragraphs(city, portal)) + _faq(city, portal)
    html = (f'<!DOCTYPE html>\n<html lang="{escape(portal.language)}"><head>'
            f'<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            f'<meta name="generator" content="{GENERATOR}"><title>{title}</title>\n'
            f"<!-- {escape(note)} -->\n</head>\n"
            f'<body><main id="main"><article class="page-content">\n<h1>{escape(city.hotline.brand)}</h1>\n'
            f"{body}\n</article></main>"
            f'<footer class="site-footer"><p>Synthetic demo page, invented from the registry; not the city\'s '
            f"page.</p></footer></body></html>\n")
    return html.encode("utf-8")


def portal_pages(city: City) -> list[tuple[Portal, bytes]]:
    """Every templated portal of the city with its page."""
    return [(portal, portal_page(city, portal)) for portal in city.portals if templated(portal)]
