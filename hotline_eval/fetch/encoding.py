"""Decode fetched bodies to text: BOM, then the HTTP charset, then <meta charset>, then UTF-8.

Declared legacy charsets are widened to their supersets, because pages that declare GB2312 or
EUC-KR routinely contain characters only the superset has (GB18030, Windows-949).
"""

from __future__ import annotations

import codecs
import re

from hotline_eval.errors import SourceFormatError

# declared name -> codec that decodes everything the declared one does, and more
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-kr": "cp949",
    "euc_kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "x-windows-949": "cp949",
    "iso-8859-1": "cp1252",  # browsers treat latin-1 labels as windows-1252 (WHATWG)
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "shift_jis": "cp932",
    "sjis": "cp932",
}

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
# <meta charset="gbk"> or <meta http-equiv="Content-Type" content="text/html; charset=euc-kr">
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HEADER_CHARSET.search(content_type)
    return match.group(1) if match else None


def charset_from_meta(body: bytes) -> str | None:
    match = _META_CHARSET.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def detect_charset(body: bytes, content_type: str | None = None) -> str:
    """Name the codec to decode ``body`` with, from BOM, header, then meta; UTF-8 if none is declared."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    for label in (charset_from_content_type(content_type), charset_from_meta(body)):
        if label and (codec := _codec(label)):
            return codec
    return "utf-8"


def decode_body(body: bytes, content_type: str | None = None) -> str:
    """Decode strictly with the detected charset; a body that does not decode is an error, not mojibake."""
    codec = detect_charset(body, content_type)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(
            f"body does not decode as {codec} (declared by {content_type!r} or <meta>): {exc.reason} "
            f"at byte {exc.start}"
        ) from None
    return text.lstrip("\ufeff")
