#!/usr/bin/env python3
"""Write the single-file dossier of a run folder (the RunPod handoff, for runs that predate dossiers):
`gerhard dossier`.

    python3 scripts/generate_run_dossier.py --run-dir outputs/<run_id> --phase B

Writes run_dossier_<run_id>.html into --run-dir, judged by this repository's program unless --repo-root names
another registry; every option of `gerhard dossier` works. Written by `gerhard init --scripts`.
"""

import sys

from gerhard.cli.handoff import script_main

if __name__ == "__main__":
    sys.exit(script_main("dossier", __file__))
