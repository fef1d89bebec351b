from ser_core.cli import main

raise SystemExit(main())
