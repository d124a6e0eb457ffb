"""Evaluation: splits, metrics (accuracy and beyond) and HTML reports with charts."""
