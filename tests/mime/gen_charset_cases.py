"""Writes tests/mime/cases/charset-*.eml and .json: one message per charset
the payload must turn into UTF-8. The oracle is Python's own codecs (not
iconv, which the gateway uses), so the expectation is independent of the
code under test. Run once by hand when adding a charset:
    /usr/bin/python3 tests/mime/gen_charset_cases.py
"""
import base64
import json
import pathlib
import quopri

CASES = pathlib.Path(__file__).resolve().parent / "cases"

# (MIME label, Python codec, sample text in that script)
CHARSETS = [
    ("ISO-8859-1", "iso8859_1", "Café naïve façade, Ærø Øl, señor"),
    ("ISO-8859-2", "iso8859_2", "Zażółć gęślą jaźń, Příliš žluťoučký kůň"),
    ("ISO-8859-3", "iso8859_3", "Ħamrun, ġobon, ċaqċaq, Ġgantija"),
    ("ISO-8859-4", "iso8859_4", "Latviešu ķēķis, ŗ ļ ņ ū"),
    ("ISO-8859-5", "iso8859_5", "Привет, мир! Съешь же ещё"),
    ("ISO-8859-6", "iso8859_6", "مرحبا بالعالم"),
    ("ISO-8859-7", "iso8859_7", "Καλημέρα κόσμε, ξεσκεπάζω"),
    ("ISO-8859-8", "iso8859_8", "שלום עולם"),
    ("ISO-8859-9", "iso8859_9", "İstanbul'da ğüşöç ıİ"),
    ("ISO-8859-10", "iso8859_10", "Þórður ŋ ĸ Ŧ"),
    ("ISO-8859-11", "iso8859_11", "สวัสดีชาวโลก"),
    ("ISO-8859-13", "iso8859_13", "Ąžuolas ų ė Ł"),
    ("ISO-8859-14", "iso8859_14", "Ŵŷ ḃḋ ẁ Ỳ"),
    ("ISO-8859-15", "iso8859_15", "Prix: 10 € œuvre Šš Žž"),
    ("ISO-8859-16", "iso8859_16", "Ștefan și Țara, €"),
    ("windows-1250", "cp1250", "Zażółć gęślą „cudzysłów” – myślnik"),
    ("windows-1251", "cp1251", "Привет, мир — «ёлка»"),
    ("windows-1252", "cp1252", "“Smart quotes” – en dash — €5 … œ"),
    ("windows-1253", "cp1253", "Καλημέρα — «κόσμε»"),
    ("windows-1254", "cp1254", "İstanbul — ğüşöç “tırnak”"),
    ("windows-1255", "cp1255", "שלום — ₪5"),
    ("windows-1256", "cp1256", "مرحبا — «عالم»"),
    ("windows-1257", "cp1257", "Ąžuolas — „ų” ė"),
    ("windows-1258", "cp1258", "Đà Nơi — ơ ư Ư ₫"),
    ("KOI8-R", "koi8_r", "Съешь же ещё этих мягких французских булок"),
    ("KOI8-U", "koi8_u", "Привіт, їжак і ґанок, Європа"),
    ("ISO-2022-JP", "iso2022_jp", "こんにちは世界、日本語のテキスト"),
    ("Shift_JIS", "shift_jis", "こんにちは世界、カタカナ"),
    ("EUC-JP", "euc_jp", "日本語の電子メール"),
    ("GB2312", "gb2312", "你好，世界。电子邮件"),
    ("GBK", "gbk", "你好，世界。镕铖"),
    ("GB18030", "gb18030", "你好，世界 € 𠀀"),
    ("Big5", "big5", "繁體中文電子郵件"),
    ("EUC-KR", "euc_kr", "안녕하세요 세계"),
    ("UTF-8", "utf-8", "Grüße, 你好, Привет, 🎉"),
]

CTES = ["8bit", "quoted-printable", "base64"]


def encoded_word(text, label, codec, b):
    raw = text.encode(codec)
    if b:
        return f"=?{label}?B?{base64.b64encode(raw).decode()}?="
    q = "".join(chr(c) if (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122) else
                "_" if c == 32 else f"={c:02X}" for c in raw)
    return f"=?{label}?Q?{q}?="


def body(text, codec, cte):
    raw = (text + "\r\nSecond line.\r\n").encode(codec)
    if cte == "base64":
        return base64.encodebytes(raw).replace(b"\n", b"\r\n")
    if cte == "quoted-printable":  # line breaks stay line breaks (RFC 2045 6.7 rule 4)
        lf = (text + "\nSecond line.\n").encode(codec)
        return quopri.encodestring(lf).replace(b"\n", b"\r\n")
    return raw


def main():
    for i, (label, codec, text) in enumerate(CHARSETS):
        assert text.encode(codec).decode(codec) == text, label
        cte = CTES[i % 3]
        # ISO-2022-JP is 7-bit by design (RFC 1468): never base64/qp in practice
        if codec == "iso2022_jp":
            cte = "7bit"
        name = "charset-" + label.lower()
        subject = encoded_word(text[:12], label, codec, i % 2 == 0)
        msg = (f"From: Sender <sender@example.com>\r\nTo: rcpt@example.net\r\n"
               f"Subject: {subject}\r\nMessage-ID: <{name}@example.com>\r\n"
               f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={label}\r\n"
               f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body(text, codec, cte)
        (CASES / f"{name}.eml").write_bytes(msg)
        spec = {"expect": {"message": {"subject": text[:12],
                                       "text": text + "\nSecond line.\n",
                                       "html": None, "attachments": []}},
                "warnings": []}
        (CASES / f"{name}.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
