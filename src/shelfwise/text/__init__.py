"""Text models: the offline sentence encoder with its store cache, fine-tuning, sentiment."""
