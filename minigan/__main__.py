"""``python -m minigan``: see :mod:`minigan.cli`."""

from .cli import main

raise SystemExit(main())
