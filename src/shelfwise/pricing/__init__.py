"""Pricing: price elasticity per item and category, margin-maximising suggestions, the backtest."""
