"""`python -m sim ...` is `huzhu sim ...`."""

from sim.cli import main

raise SystemExit(main())
