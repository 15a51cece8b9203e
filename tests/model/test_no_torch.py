from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_inference_path_imports_no_torch(shipped, int8_cache):
    code = f"""
import json, sys
from model import load_classifier
clf = load_classifier(provider="auto", cache_dir={str(int8_cache)!r})
clf.classify(["Shares plunge after profit warning", ""])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "optimum"))
print(json.dumps(heavy))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
