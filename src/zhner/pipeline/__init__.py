"""Building zhner's own Chinese news pipeline: corpus → pkuseg segmenter → silver NER → zh_news_base."""
