from failsoft.cli import main

raise SystemExit(main())
