"""Language detection, shared by prepare's language filter and monitor's language signal."""

from __future__ import annotations


def load_language_detector():
    """A seeded langdetect function text -> language code ("unknown" when undecidable), or None without langdetect."""
    try:
        from langdetect import DetectorFactory, LangDetectException, detect
    except ImportError:
        return None
    DetectorFactory.seed = 0  # langdetect is random unless seeded

    def detect_language(text: str) -> str:
        try:
            return detect(text[:2000])
        except LangDetectException:
            return "unknown"

    return detect_language
