"""Usernames as people type them, and as the database compares them."""

import unicodedata

# Characters that show nothing where they stand, or only space: format characters (zero-width
# space and joiners, direction marks, soft hyphen), controls, separators, private use,
# surrogates and unassigned code points.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def normalize(raw: str) -> str:
    """The form a username is stored and looked up in: NFKC, case-folded, trimmed
    (full-width letters are plain ones, K is k, ß is ss)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold()).strip()


def has_invisible_characters(name: str) -> bool:
    return any(unicodedata.category(character) in INVISIBLE_CATEGORIES for character in name)


def comparison_key(name: str) -> str:
    """One key for every spelling MariaDB's utf8mb4_unicode_ci takes for the same name: case,
    width, accents and ignorable characters folded away (vîctim3, full-width vi-ctim3 and
    vict\\u200bim3 are all victim3)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(
        character
        for character in decomposed
        if not unicodedata.combining(character)
        and unicodedata.category(character) not in INVISIBLE_CATEGORIES
    )
    return unicodedata.normalize("NFKC", kept.casefold())
