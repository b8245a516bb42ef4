"""python -m gerhard → gerhard.cli.main()."""

from __future__ import annotations

from gerhard.cli import main

raise SystemExit(main())
