"""The console's screens and dialogs, each with its ``.tcss`` beside it."""
