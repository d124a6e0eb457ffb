"""Order risk: per-order features from the past only, a refitted logistic score, reasons with evidence."""
