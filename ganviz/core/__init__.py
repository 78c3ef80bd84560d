"""The Qt-free core of ganviz: data, models, losses, metrics and the trainer.

Nothing under this package may import Qt; the rule is enforced by an
import-linter contract in pyproject.toml and by tests/test_core_headless.py.
"""
