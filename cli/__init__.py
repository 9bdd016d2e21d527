"""The applications on top of the core: the `reach` command line and the demo."""
