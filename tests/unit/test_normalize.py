from antrenor.records.normalize import TextNormalizer, strip_diacritics

CEDILLA = "Legea se aplică şi în ţară; ŞTIINŢĂ"  # s/t with cedilla: wrong for Romanian
COMMA = "Legea se aplică și în țară; ȘTIINȚĂ"


def test_cedilla_letters_become_comma_below_and_are_counted():
    normalize = TextNormalizer(fix_cedilla=True)
    assert normalize(CEDILLA) == COMMA
    assert normalize(COMMA) == COMMA
    assert normalize.changes == {"cedilla ş ţ -> comma-below ș ț": 1}


def test_nfc_alone_does_not_fix_cedilla():
    import unicodedata

    assert unicodedata.normalize("NFC", CEDILLA) != COMMA
    assert TextNormalizer(fix_cedilla=False)(CEDILLA) == CEDILLA


def test_nfc_composes_combining_marks():
    normalize = TextNormalizer()
    decomposed = "ma\u0306r"  # a + combining breve
    assert normalize(decomposed) == "măr"
    assert normalize.changes["Unicode NFC composition"] == 1


def test_control_characters_and_odd_whitespace():
    normalize = TextNormalizer()
    text = "\ufeff  Articolul\u00a01\x00\r\n(1)\u200b  Textul\u2028aici.  \n\n\n\nFinal \t"
    assert normalize(text) == "Articolul 1\n(1) Textul\naici.\n\nFinal"
    assert set(normalize.changes) == {
        "control characters removed", "line endings unified (CRLF, CR, U+2028 -> LF)", "zero-width characters removed",
        "odd spaces (no-break, thin, ...) -> space", "runs of spaces collapsed", "trailing spaces removed",
        "3+ newlines -> 2", "leading/trailing whitespace trimmed",
    }


def test_tabs_and_single_newlines_are_kept():
    assert TextNormalizer()("a\tb\nc") == "a\tb\nc"


def test_everything_off_changes_nothing():
    normalize = TextNormalizer(nfc=False, fix_cedilla=False, control_chars=False, whitespace=False)
    text = " ş\x00\r\n "
    assert normalize(text) == text and not normalize.changes


def test_strip_diacritics():
    assert strip_diacritics("Își țese în așteptare; ŞI ţara") == "Isi tese in asteptare; SI tara"
