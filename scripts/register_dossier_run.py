#!/usr/bin/env python3
"""Register a run from its single-file dossier (the RunPod handoff, step 3, preferred): `gerhard register --dossier`.

    python3 scripts/register_dossier_run.py --dossier <path_to_run_dossier_<run_id>.html> --phase B

Registers into this repository unless --repo-root names another; every option of `gerhard register` works.
Written by `gerhard init --scripts`.
"""

import sys

from gerhard.cli.handoff import script_main

if __name__ == "__main__":
    sys.exit(script_main("register", __file__))
