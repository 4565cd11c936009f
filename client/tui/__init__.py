"""The Textual chat TUI: an app that wires screens and widgets to the core."""
