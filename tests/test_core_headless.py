"""The core runs without Qt: importing it with PySide6 and pyqtgraph blocked works, and the
import-linter contract in pyproject.toml holds."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCK_QT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):
            raise ImportError('Qt is blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
from ganviz.core import modes
from ganviz.core.config import TrainConfig
from ganviz.core.session import Session
from ganviz.core.tasks import task_class
for mode in modes.REGISTRY:  # every registered mode's Task imports without Qt
    task_class(mode)
s = Session([TrainConfig.for_mode('1d', steps=20), TrainConfig.for_mode('1d', k=2)])
s.run(20, 10)
assert [lane.trainer.iteration for lane in s.lanes] == [20, 20]
assert not any(m.split('.')[0] in ('PySide6', 'pyqtgraph') for m in sys.modules)
print('ok')
"""


def test_core_trains_with_qt_blocked():
    out = subprocess.run([sys.executable, "-c", BLOCK_QT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_import_linter_contract_holds():
    runner = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    out = subprocess.run([sys.executable, "-c", runner, str(ROOT / "pyproject.toml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout
