"""``python -m zdprobe``."""

from zdprobe.cli import main

raise SystemExit(main())
