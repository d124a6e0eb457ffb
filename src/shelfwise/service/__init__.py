"""The service layer: the operations that the CLI and the API both call.

One module per area (``shop``, ``recommend``, ...). Each function takes plain values, opens what it
needs through the store and the model registry, and returns plain data (dataclasses, dicts, Arrow):
no printing, no HTTP, no Typer.
"""
