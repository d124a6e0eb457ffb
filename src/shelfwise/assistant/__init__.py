"""The shop assistant: extractive answers to shoppers' questions from the catalog and the reviews."""
