"""Where local state lives: everything under the git-ignored `.local/` of the checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
LOGS = LOCAL / "logs"
SECRETS = LOCAL / "secrets.env"
