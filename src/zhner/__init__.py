"""zhner: Chinese news NER, from raw articles to a trained spaCy model via Doccano."""

__version__ = "0.1.0"
