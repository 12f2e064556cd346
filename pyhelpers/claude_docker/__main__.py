from claude_docker.cli import main

raise SystemExit(main())
