"""``python -m simulator.calibrate run --backend torch ...`` (same as ``simulator calibrate ...``)."""

from .cli import main

raise SystemExit(main())
