import sys
from pathlib import Path

# scripts/tiktoken_offline.py gives the real tiktoken its rank files without a download.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
