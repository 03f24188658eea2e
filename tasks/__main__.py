"""`python -m tasks ...` is the `paperflow` CLI."""
from tasks.common.cli import main

raise SystemExit(main())
