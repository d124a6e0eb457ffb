"""Product search: BM25 on words and character trigrams, encoder embeddings, behaviour prior, fused."""
