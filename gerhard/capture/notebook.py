"""Notebook helpers: the dossier offered for download where the run was made (Colab, Jupyter, a script)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gerhard.capture.provenance import runtime_kind


def offer_download(path: Path) -> None:
    """Colab: download the file to the laptop. Jupyter: a link. Plain Python: the path."""
    if "google.colab" in sys.modules:
        try:
            from google.colab import files

            files.download(str(path))
            return
        except Exception as e:
            print(f"gerhard: could not start the download ({e}): the dossier is {path}", file=sys.stderr)
            return

    if runtime_kind() in ("jupyter", "kaggle", "runpod") and "IPython" in sys.modules:
        try:
            from IPython.display import FileLink, display

            display(FileLink(os.path.relpath(path), result_html_prefix="Dossier: "))
            return
        except Exception:
            pass
    print(f"dossier: {path}")
