"""``python -m simulator.calibrate run --backend torch ...`` (same as ``simulator calibrate ...``)."""

from simulator.cli.calibrate import main

raise SystemExit(main())
