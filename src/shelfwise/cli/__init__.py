"""The Typer command line: thin commands that parse, call the service layer and print."""
