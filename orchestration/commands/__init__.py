"""Commands of the forkalytics CLI that live in modules of their own (see COMMAND_MODULES in orchestration/cli.py)."""
